/* Every route handler, by module. Included by http.h only. */
#ifndef WO_HTTP_HANDLERS_H
#define WO_HTTP_HANDLERS_H

/* api.c: /api/v1 */
WO_HANDLER(wo_api_deployments_list);
WO_HANDLER(wo_api_deployments_create);
WO_HANDLER(wo_api_deployment_get);
WO_HANDLER(wo_api_deployment_patch);
WO_HANDLER(wo_api_deployment_delete);
WO_HANDLER(wo_api_deployment_deploy);
WO_HANDLER(wo_api_deployment_action);   /* {action}: start, stop, restart */
WO_HANDLER(wo_api_deployment_runs);
WO_HANDLER(wo_api_deployment_releases);
WO_HANDLER(wo_api_deployment_webhooks);
WO_HANDLER(wo_api_deployment_health);
WO_HANDLER(wo_api_deployment_shares);      /* owner and shares */
WO_HANDLER(wo_api_deployment_share_put);   /* {user}: {"role": "member"|"viewer"} */
WO_HANDLER(wo_api_deployment_share_delete);
WO_HANDLER(wo_api_users_list);
WO_HANDLER(wo_api_health_list);
WO_HANDLER(wo_api_run_get);
WO_HANDLER(wo_api_run_cancel);
WO_HANDLER(wo_api_run_log);
WO_HANDLER(wo_api_addons_list);
WO_HANDLER(wo_api_addon_get);
WO_HANDLER(wo_api_addon_action);        /* {action}: enable, disable */
WO_HANDLER(wo_api_addon_settings);
WO_HANDLER(wo_api_openapi);
WO_HANDLER(wo_api_healthz);

/* metrics.c: GET /metrics (Prometheus text; an API token, as the API) */
WO_HANDLER(wo_http_metrics);

/* webhook.c: POST /hooks/{name} from GitHub, GitLab, Gitea/Forgejo, Bitbucket */
WO_HANDLER(wo_http_webhook_receive);

/* git_http.c: git smart HTTP at /git/{name}.git (push and fetch) */
WO_HANDLER(wo_http_git_info_refs);
WO_HANDLER(wo_http_git_rpc);            /* {service}: git-upload-pack, git-receive-pack */

/* static.c: /static/{file} */
WO_HANDLER(wo_static_file);

/* pages.c: the web UI */
WO_HANDLER(wo_page_login);
WO_HANDLER(wo_page_login_post);
WO_HANDLER(wo_page_logout);
WO_HANDLER(wo_page_setup);
WO_HANDLER(wo_page_setup_post);
WO_HANDLER(wo_page_deployments);
WO_HANDLER(wo_page_deployment_new);
WO_HANDLER(wo_page_deployment_create);
WO_HANDLER(wo_page_deployment);
WO_HANDLER(wo_page_deployment_update);
WO_HANDLER(wo_page_deployment_deploy);
WO_HANDLER(wo_page_deployment_webhook);
WO_HANDLER(wo_page_deployment_action);  /* {action}: start, stop, restart */
WO_HANDLER(wo_page_deployment_logs_stream);
WO_HANDLER(wo_page_live);                /* the list page's live state */
WO_HANDLER(wo_page_deployment_live);     /* one deployment's */
WO_HANDLER(wo_page_deployment_delete_confirm);
WO_HANDLER(wo_page_deployment_delete);
WO_HANDLER(wo_page_deployment_share);
WO_HANDLER(wo_page_users);
WO_HANDLER(wo_page_user_create);
WO_HANDLER(wo_page_user_action);       /* {action}: role, password, delete */
WO_HANDLER(wo_page_run);
WO_HANDLER(wo_page_run_cancel);
WO_HANDLER(wo_page_addons);
WO_HANDLER(wo_page_addon_action);       /* {action}: enable, disable */
WO_HANDLER(wo_page_addon_settings);
WO_HANDLER(wo_page_account);
WO_HANDLER(wo_page_token_create);
WO_HANDLER(wo_page_token_revoke);
WO_HANDLER(wo_page_session_revoke);

#endif
