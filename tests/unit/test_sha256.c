/* Unit tests for SHA-256 (include/core/sha256.h): the FIPS 180-4 examples (NIST's
 * "Example Algorithms" for SHA-256) and the million-'a' vector, and the streaming
 * interface agreeing with the one-shot one at every block boundary. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <string.h>

#include "core/sha256.h"

static void check_hex(const char *msg, size_t len, const char *want)
{
	char hex[SHA256_HEX_LEN + 1];
	sha256_hex(msg, len, hex);
	assert_string_equal(hex, want);
}

static void empty_message(void **state)
{
	(void)state;
	check_hex("", 0, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}

static void abc_one_block(void **state)
{
	(void)state;
	check_hex("abc", 3, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

/* 448 bits: the padding needs a second block. */
static void two_blocks_448_bits(void **state)
{
	(void)state;
	const char *m = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
	assert_int_equal(strlen(m) * 8, 448);
	check_hex(m, strlen(m), "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
}

static void message_896_bits(void **state)
{
	(void)state;
	const char *m = "abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmno"
			"ijklmnopjklmnopqklmnopqrlmnopqrsmnopqrstnopqrstu";
	assert_int_equal(strlen(m) * 8, 896);
	check_hex(m, strlen(m), "cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1");
}

/* One million 'a', fed in pieces of an awkward size. */
static void million_a(void **state)
{
	(void)state;
	char chunk[1000];
	memset(chunk, 'a', sizeof(chunk));
	struct sha256 s;
	sha256_init(&s);
	for (size_t fed = 0; fed < 1000000;) {
		size_t n = 1000000 - fed < 997 ? 1000000 - fed : 997;
		sha256_update(&s, chunk, n);
		fed += n;
	}
	uint8_t got[SHA256_LEN];
	sha256_final(&s, got);
	static const uint8_t want[SHA256_LEN] = {
		0xcd, 0xc7, 0x6e, 0x5c, 0x99, 0x14, 0xfb, 0x92, 0x81, 0xa1, 0xc7, 0xe2, 0x84, 0xd7, 0x3e, 0x67,
		0xf1, 0x80, 0x9a, 0x48, 0xa4, 0x97, 0x20, 0x0e, 0x04, 0x6d, 0x39, 0xcc, 0xc7, 0x11, 0x2c, 0xd0,
	};
	assert_memory_equal(got, want, SHA256_LEN);
}

/* Every length around the 55/56/64-byte edges, split at every point, equals one shot. */
static void split_updates_match_one_shot(void **state)
{
	(void)state;
	uint8_t msg[200];
	for (size_t i = 0; i < sizeof(msg); i++)
		msg[i] = (uint8_t)(i * 7 + 3);
	for (size_t len = 0; len <= 130; len++) {
		uint8_t whole[SHA256_LEN];
		sha256(msg, len, whole);
		for (size_t cut = 0; cut <= len; cut++) {
			struct sha256 s;
			uint8_t parts[SHA256_LEN];
			sha256_init(&s);
			sha256_update(&s, msg, cut);
			sha256_update(&s, msg + cut, 0);
			sha256_update(&s, msg + cut, len - cut);
			sha256_final(&s, parts);
			if (memcmp(whole, parts, SHA256_LEN) != 0)
				fail_msg("length %zu split at %zu differs from one shot", len, cut);
		}
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(empty_message),
		cmocka_unit_test(abc_one_block),
		cmocka_unit_test(two_blocks_448_bits),
		cmocka_unit_test(message_896_bits),
		cmocka_unit_test(million_a),
		cmocka_unit_test(split_updates_match_one_shot),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
