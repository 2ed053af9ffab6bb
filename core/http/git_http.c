/* git smart HTTP at /git/{name}.git: not there yet. */
#include "http/http.h"
#include "util/banned.h"

int wo_git_http_info_refs(struct wo_req *req)
{
	return wo_http_send_error(req, 501, "pushing over HTTP is not available yet", NULL);
}

int wo_git_http_rpc(struct wo_req *req)
{
	return wo_http_send_error(req, 501, "pushing over HTTP is not available yet", NULL);
}
