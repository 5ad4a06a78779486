/* tests/test_settings.c — the settings file (common/settings.h): every key,
 * comments and blank lines, repeated photos, the command line's --config, and
 * each kind of bad line refused with its file and line number, the file the
 * package ships; and the
 * bundled-data lookup (common/datadir.h) from the build tree. */
#include "datadir.h"
#include "settings.h"
#include "status.h"
#include "test.h"

#include <unistd.h>

static char tmp_path[256];

/* Write len bytes of text to a fresh file; its path (static). */
static const char *write_conf_n(const char *text, size_t len) {
    snprintf(tmp_path, sizeof tmp_path, "/tmp/seer-test-settings-%d.conf", (int)getpid());
    FILE *f = fopen(tmp_path, "w");
    if (!f) return NULL;
    fwrite(text, 1, len, f);
    fclose(f);
    return tmp_path;
}

static const char *write_conf(const char *text) { return write_conf_n(text, strlen(text)); }

TEST(every_key) {
    const char *p = write_conf("# a comment\n"
                               "\n"
                               "  db   =  /var/lib/seer/photos.db  \n"
                               "listen=0.0.0.0:9090\n"
                               "token = s3cr#t\n"
                               "\t# indented comment\n"
                               "model = /m/clip\n"
                               "chat-model = /m/llava\n"
                               "vision-tower = /m/tower\n"
                               "models-root = /m\n"
                               "photos = /srv/photos\n"
                               "photos = /home/a b/Pictures\n"
                               "watch = on\n"
                               "watch-interval = 60\n"
                               "chat-kv = f16\n");
    settings s;
    int st = settings_load(p, &s);
    CHECK_MSG(st == ST_OK, "%s", status_message());
    if (st) return;
    CHECK(!strcmp(s.db, "/var/lib/seer/photos.db"));
    CHECK(!strcmp(s.listen, "0.0.0.0:9090"));
    CHECK(!strcmp(s.token, "s3cr#t")); /* '#' starts a comment only at a line's start */
    CHECK(!strcmp(s.model, "/m/clip") && !strcmp(s.chat_model, "/m/llava"));
    CHECK(!strcmp(s.vision_tower, "/m/tower") && !strcmp(s.models_root, "/m"));
    CHECK(s.n_photos == 2 && !strcmp(s.photos[0], "/srv/photos") && !strcmp(s.photos[1], "/home/a b/Pictures"));
    CHECK(s.watch == SETTINGS_ON && s.watch_interval == 60);
    CHECK(s.chat_kv_set && s.chat_kv_f16);
    CHECK(!strcmp(s.path, p));
    settings_release(&s);
    CHECK(!s.db && !s.photos && s.n_photos == 0);
    settings_release(&s); /* twice is harmless */
    unlink(p);
}

TEST(unset_keys_stay_null) {
    const char *p = write_conf("listen = 8081\n");
    settings s;
    CHECK(settings_load(p, &s) == ST_OK);
    CHECK(!strcmp(s.listen, "8081") && !s.db && !s.token && !s.model && s.n_photos == 0);
    CHECK(s.watch == SETTINGS_UNSET && s.watch_interval == 0);
    settings_release(&s);
    unlink(p);
}

/* len bytes of text must be refused with ST_FORMAT, a message holding want. */
static void refused_n(const char *text, size_t len, const char *want) {
    const char *p = write_conf_n(text, len);
    settings s;
    int st = settings_load(p, &s);
    CHECK_MSG(st == ST_FORMAT, "'%s' gave %d", text, st);
    CHECK_MSG(strstr(status_message(), want) != NULL, "'%s': message '%s' lacks '%s'", text, status_message(), want);
    CHECK(!s.db && !s.path && !s.photos);
    settings_release(&s);
    unlink(p);
}

static void refused(const char *text, const char *want) { refused_n(text, strlen(text), want); }

TEST(bad_lines) {
    refused("db = /x\nstore = /y\n", ":2: unknown key 'store'");
    refused("just words\n", ":1: expected 'key = value'");
    refused("\n\ndb = relative/path\n", ":3: db = 'relative/path': expected an absolute path");
    refused("db = /a\ndb = /b\n", ":2: db is already set on line 1");
    refused("token =\n", ":1: token has no value");
    refused("token = two words\n", "may not contain spaces");
    refused("listen = 70000\n", "expected PORT or IPV4:PORT");
    refused("listen = localhost:80\n", "expected PORT or IPV4:PORT");
    refused("listen = 1.2.3:80\n", "expected PORT or IPV4:PORT");
    refused("listen = 127.0.0.1:\n", "expected PORT or IPV4:PORT");
    refused("models-root = /m\n", "vision-tower and models-root go with chat-model");
    refused("chat-cache-mb = 512\n", "chat-cache-mb goes with chat-model");
    refused("chat-model = /c\nchat-cache-mb = -1\n", "expected MiB");
    refused("chat-model = /c\nchat-cache-mb = 1\nchat-cache-mb = 2\n", "already set");
    refused("chat-kv = f16\n", "chat-kv goes with chat-model");
    refused("chat-model = /c\nchat-kv = f8\n", "expected f16 or f32");
    refused("chat-model = /c\nchat-kv = f16\nchat-kv = f32\n", "already set");
    refused("photos = ./here\n", "expected an absolute path");
    refused("watch = yes\n", "expected on or off");
    refused("watch = off\nwatch = on\n", ":2: watch is already set on line 1");
    refused("watch-interval = 5\n", "expected seconds, 10..86400");
    refused("watch-interval = 1m\n", "expected seconds, 10..86400");
    refused_n("db = /a\0b\n", 9, "not a text file");
}

TEST(missing_file) {
    settings s;
    CHECK(settings_load("/nonexistent/seer.conf", &s) == ST_NOT_FOUND);
    CHECK(strstr(status_message(), "settings file") && strstr(status_message(), "/nonexistent/seer.conf"));
}

TEST(config_option) {
    const char *p = write_conf("db = /from/file\n");
    char arg[300];
    snprintf(arg, sizeof arg, "--config=%s", p);
    char *argv1[] = {"seer serve", "--db", "/x", "--config", (char *)p, NULL};
    char *argv2[] = {"seer serve", arg, NULL};
    char *argv3[] = {"seer serve", "--config", NULL};
    char *argv4[] = {"seer serve", "--config", "/nonexistent/seer.conf", NULL};
    char *argv5[] = {"seer serve", "--config", "/nonexistent/seer.conf", "--help", NULL};
    settings s;
    CHECK(settings_for_args(5, argv1, &s) == ST_OK && s.db && !strcmp(s.db, "/from/file"));
    settings_release(&s);
    CHECK(settings_for_args(2, argv2, &s) == ST_OK && s.db && !strcmp(s.db, "/from/file"));
    settings_release(&s);
    CHECK(settings_for_args(2, argv3, &s) == ST_ARG);
    CHECK(settings_for_args(3, argv4, &s) == ST_NOT_FOUND);
    CHECK(settings_for_args(4, argv5, &s) == ST_OK && !s.path); /* --help reads nothing */
    unlink(p);
}

/* The file the package installs as /etc/seer/seer.conf parses, and sets the
 * store only (the rest is commented out for the admin to choose). */
TEST(shipped_file_parses) {
    char p[4096];
    snprintf(p, sizeof p, "%s/packaging/seer.conf", test_source());
    settings s;
    int st = settings_load(p, &s);
    CHECK_MSG(st == ST_OK, "%s", status_message());
    CHECK(s.db && !strcmp(s.db, "/var/lib/seer/photos.db"));
    CHECK(!s.listen && !s.token && !s.model && !s.chat_model && s.n_photos == 0);
    settings_release(&s);
}

/* The demo models are found from the test binary in the build tree (the same
 * relative lookup an installed seer makes in share/seer). */
TEST(datadir_finds_demo_models) {
    char dir[4096];
    int st = datadir_find("models/demo/clip", dir, sizeof dir);
    CHECK_MSG(st == ST_OK, "%s", status_message());
    if (!st) {
        char want[4096], got[4096];
        snprintf(want, sizeof want, "%s/models/demo/clip", test_source());
        CHECK_MSG(realpath(want, got) && !strcmp(got, dir), "%s vs %s", dir, want);
    }
    CHECK(datadir_find("models/demo/no-such-model", dir, sizeof dir) == ST_NOT_FOUND);
    CHECK(strstr(status_message(), "models/demo/no-such-model") != NULL);
    CHECK(datadir_find("/etc", dir, sizeof dir) == ST_ARG);
}

int main(void) {
    RUN(every_key);
    RUN(unset_keys_stay_null);
    RUN(bad_lines);
    RUN(missing_file);
    RUN(config_option);
    RUN(shipped_file_parses);
    RUN(datadir_finds_demo_models);
    return test_summary();
}
