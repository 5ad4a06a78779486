/* tools/cli_settings.c — the settings file for seer serve and seer ingest. */
#include "cli_settings.h"
#include "cmd.h"
#include "status.h"

#include <stddef.h>

const settings *cli_settings_load(int argc, char **argv) {
    static settings s; /* static: what the caller takes from it lives to the end */
    settings_release(&s);
    if (settings_for_args(argc, argv, &s)) {
        cli_error("%s", status_message());
        return NULL;
    }
    return &s;
}

int cli_settings_serve(int argc, char **argv, server_opts *o) {
    const settings *s = cli_settings_load(argc, argv);
    if (!s) return 2;
    if (s->db) o->db = s->db;
    if (s->listen) o->listen = s->listen;
    if (s->token && !o->token) o->token = s->token;
    if (s->model) o->model = s->model;
    if (s->chat_model) o->chat_model = s->chat_model;
    if (s->vision_tower) o->vision_tower = s->vision_tower;
    if (s->models_root) o->models_root = s->models_root;
    if (s->chat_cache_mb_set) o->chat_cache_mb = s->chat_cache_mb;
    if (s->chat_kv_set) o->chat_kv_f16 = s->chat_kv_f16;
    return 0;
}
