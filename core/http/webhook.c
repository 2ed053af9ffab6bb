/* POST /hooks/{name}: not there yet. */
#include "http/http.h"
#include "util/banned.h"

int wo_webhook_receive(struct wo_req *req)
{
	return wo_http_send_error(req, 501, "webhooks are not available yet", NULL);
}
