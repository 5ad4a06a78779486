/* tools/cli_settings.h — the settings file (common/settings.h) for seer serve
 * and seer ingest: read once per process, before the command line, which
 * overrides what it sets.
 *
 * Lifetime: the settings live in static storage until the process ends;
 * strings taken from them (into server_opts, say) stay valid as long.
 */
#ifndef SEER_CLI_SETTINGS_H
#define SEER_CLI_SETTINGS_H

#include "server.h"
#include "settings.h"

/* The settings for argv (--config FILE, else /etc/seer/seer.conf when it
 * exists). NULL after printing the error when the file is bad. */
const settings *cli_settings_load(int argc, char **argv);

/* Fill the fields of *o that the settings set (db, listen, model, chat model,
 * tower, models root; token unless SEER_TOKEN already set o->token): call it
 * after server_opts_default and before parsing options. 0, or 2 (the exit
 * status of a usage error) after printing the error. */
int cli_settings_serve(int argc, char **argv, server_opts *o);

#endif
