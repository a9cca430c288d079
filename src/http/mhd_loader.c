/* libmicrohttpd through dlopen(): see include/http/mhd_loader.h. */
#include "http/mhd_loader.h"

#include <stdarg.h>
#include <stddef.h>

#include <microhttpd.h>

#include "core/cleanup.h"
#include "core/dlload.h"

#ifndef MHD_SONAME
#define MHD_SONAME "libmicrohttpd.so.12"
#endif

static struct {
	__typeof__(&MHD_start_daemon_va) start_daemon_va;
	__typeof__(&MHD_stop_daemon) stop_daemon;
	__typeof__(&MHD_quiesce_daemon) quiesce_daemon;
	__typeof__(&MHD_queue_response) queue_response;
	__typeof__(&MHD_create_response_from_buffer) create_response_from_buffer;
	__typeof__(&MHD_create_response_from_fd64) create_response_from_fd64;
	__typeof__(&MHD_create_response_from_callback) create_response_from_callback;
	__typeof__(&MHD_destroy_response) destroy_response;
	__typeof__(&MHD_add_response_header) add_response_header;
	__typeof__(&MHD_lookup_connection_value) lookup_connection_value;
	__typeof__(&MHD_get_connection_values) get_connection_values;
	__typeof__(&MHD_get_connection_info) get_connection_info;
	__typeof__(&MHD_suspend_connection) suspend_connection;
	__typeof__(&MHD_resume_connection) resume_connection;
	__typeof__(&MHD_create_response_for_upgrade) create_response_for_upgrade;
	__typeof__(&MHD_upgrade_action) upgrade_action;
} api;

static const struct dl_symbol symbols[] = {
#define SYM(field, name) { name, offsetof(__typeof__(api), field) }
	SYM(start_daemon_va, "MHD_start_daemon_va"),
	SYM(stop_daemon, "MHD_stop_daemon"),
	SYM(quiesce_daemon, "MHD_quiesce_daemon"),
	SYM(queue_response, "MHD_queue_response"),
	SYM(create_response_from_buffer, "MHD_create_response_from_buffer"),
	SYM(create_response_from_fd64, "MHD_create_response_from_fd64"),
	SYM(create_response_from_callback, "MHD_create_response_from_callback"),
	SYM(destroy_response, "MHD_destroy_response"),
	SYM(add_response_header, "MHD_add_response_header"),
	SYM(lookup_connection_value, "MHD_lookup_connection_value"),
	SYM(get_connection_values, "MHD_get_connection_values"),
	SYM(get_connection_info, "MHD_get_connection_info"),
	SYM(suspend_connection, "MHD_suspend_connection"),
	SYM(resume_connection, "MHD_resume_connection"),
	SYM(create_response_for_upgrade, "MHD_create_response_for_upgrade"),
	SYM(upgrade_action, "MHD_upgrade_action"),
#undef SYM
};

int mhd_load(struct ad_err *err)
{
	static void *handle;
	if (handle == NULL)
		handle = dl_load(MHD_SONAME, "libmicrohttpd", symbols, ARRAY_SIZE(symbols), &api, err);
	return handle != NULL ? 0 : -1;
}

/* The forwarders: the prototypes are <microhttpd.h>'s, so a mismatch does not build. */

struct MHD_Daemon *MHD_start_daemon(unsigned int flags, uint16_t port, MHD_AcceptPolicyCallback apc,
				    void *apc_cls, MHD_AccessHandlerCallback dh, void *dh_cls, ...)
{
	va_list ap;
	va_start(ap, dh_cls);
	struct MHD_Daemon *d = api.start_daemon_va(flags, port, apc, apc_cls, dh, dh_cls, ap);
	va_end(ap);
	return d;
}

void MHD_stop_daemon(struct MHD_Daemon *daemon)
{
	api.stop_daemon(daemon);
}

MHD_socket MHD_quiesce_daemon(struct MHD_Daemon *daemon)
{
	return api.quiesce_daemon(daemon);
}

enum MHD_Result MHD_queue_response(struct MHD_Connection *connection, unsigned int status_code,
				   struct MHD_Response *response)
{
	return api.queue_response(connection, status_code, response);
}

struct MHD_Response *MHD_create_response_from_buffer(size_t size, void *buffer,
						     enum MHD_ResponseMemoryMode mode)
{
	return api.create_response_from_buffer(size, buffer, mode);
}

struct MHD_Response *MHD_create_response_from_fd64(uint64_t size, int fd)
{
	return api.create_response_from_fd64(size, fd);
}

struct MHD_Response *MHD_create_response_from_callback(uint64_t size, size_t block_size,
						       MHD_ContentReaderCallback crc, void *crc_cls,
						       MHD_ContentReaderFreeCallback crfc)
{
	return api.create_response_from_callback(size, block_size, crc, crc_cls, crfc);
}

void MHD_destroy_response(struct MHD_Response *response)
{
	api.destroy_response(response);
}

enum MHD_Result MHD_add_response_header(struct MHD_Response *response, const char *header,
					const char *content)
{
	return api.add_response_header(response, header, content);
}

const char *MHD_lookup_connection_value(struct MHD_Connection *connection, enum MHD_ValueKind kind,
					const char *key)
{
	return api.lookup_connection_value(connection, kind, key);
}

int MHD_get_connection_values(struct MHD_Connection *connection, enum MHD_ValueKind kind,
			      MHD_KeyValueIterator iterator, void *iterator_cls)
{
	return api.get_connection_values(connection, kind, iterator, iterator_cls);
}

/* Only the info types that take no further argument are used. */
const union MHD_ConnectionInfo *MHD_get_connection_info(struct MHD_Connection *connection,
							enum MHD_ConnectionInfoType info_type, ...)
{
	return api.get_connection_info(connection, info_type);
}

void MHD_suspend_connection(struct MHD_Connection *connection)
{
	api.suspend_connection(connection);
}

void MHD_resume_connection(struct MHD_Connection *connection)
{
	api.resume_connection(connection);
}

struct MHD_Response *MHD_create_response_for_upgrade(MHD_UpgradeHandler upgrade_handler, void *upgrade_handler_cls)
{
	return api.create_response_for_upgrade(upgrade_handler, upgrade_handler_cls);
}

/* Only the actions that take no further argument are used. */
enum MHD_Result MHD_upgrade_action(struct MHD_UpgradeResponseHandle *urh, enum MHD_UpgradeAction action, ...)
{
	return api.upgrade_action(urh, action);
}
