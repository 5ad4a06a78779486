/* common/settings.h — seer's settings file (/etc/seer/seer.conf), read by
 * seer serve and seer ingest before their command line, which overrides it.
 *
 * The format (docs/install.md): one `key = value` per line; blank lines and
 * lines whose first non-blank character is '#' are ignored; spaces around
 * key and value are dropped. Keys:
 *
 *   db            the store directory                (absolute path)
 *   listen        PORT or IPV4:PORT                   (seer serve)
 *   token         the API token                       (seer serve)
 *   model         the CLIP model directory            (absolute path)
 *   chat-model    a MoE-LLaVA model directory         (seer serve)
 *   vision-tower  the chat model's vision tower       (with chat-model)
 *   models-root   where towers are looked up          (with chat-model)
 *   chat-cache-mb MiB of prepared images (tower features + prompt-prefix KV)
 *                 the chat keeps, 0..1048576 (with chat-model; default 1024)
 *   photos        a photo root for seer ingest; repeatable, one per line
 *   watch         on or off: seer ingest keeps running and keeps the store up
 *                 to date (inotify, and a full walk every watch-interval s)
 *   watch-interval  seconds, 10..86400 (default 3600, applied by seer ingest)
 *
 * An unknown key, a key given twice (but photos), an empty or malformed
 * value fails with ST_FORMAT and a "FILE:LINE: ..." message.
 *
 * Ownership: a settings struct owns its strings; settings_release frees them
 * and leaves the struct zeroed (a second release is harmless).
 */
#ifndef SEER_SETTINGS_H
#define SEER_SETTINGS_H

#define SETTINGS_DEFAULT_PATH "/etc/seer/seer.conf"

/* An on/off key: not in the file, or set to off or on. */
typedef enum { SETTINGS_UNSET = 0, SETTINGS_OFF, SETTINGS_ON } settings_switch;

typedef struct {
    char *path;          /* the file read; NULL when none was */
    char *db, *listen, *token, *model, *chat_model, *vision_tower, *models_root; /* NULL = not set */
    char **photos;       /* [n_photos] photo roots, in file order */
    int n_photos;
    settings_switch watch;
    int watch_interval;  /* seconds; 0 = not set */
    int chat_cache_mb;   /* MiB, when chat_cache_mb_set */
    int chat_cache_mb_set;
    int chat_kv_f16;     /* chat-kv = f16 (1) or f32 (0), when chat_kv_set */
    int chat_kv_set;
} settings;

/* Parse the file at path into *out (zeroed first). ST_IO when it cannot be
 * read, ST_FORMAT for a bad line. */
int  settings_load(const char *path, settings *out);

/* The settings for a command line: the file named by `--config FILE` or
 * `--config=FILE` in argv[1..argc-1] (it must exist), else
 * SETTINGS_DEFAULT_PATH when it exists; a default file this user may not
 * read is skipped with a warning (it holds the service's token). No file,
 * or --help / -h in argv: *out is zeroed and ST_OK. */
int  settings_for_args(int argc, char **argv, settings *out);

void settings_release(settings *s);

#endif
