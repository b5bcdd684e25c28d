/* Saved runs: STORAGE/<machine-id>/NNNN_<name>.json, numbered as pytest-benchmark numbers them. */
#include "harness.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

static int ms_storage_mkdirs(const char *path)
{
    char buf[4096];
    snprintf(buf, sizeof buf, "%s", path);
    for (char *p = buf + 1; *p; p++) {
        if (*p == '/') {
            *p = 0;
            if (mkdir(buf, 0777) != 0 && errno != EEXIST) {
                return -errno;
            }
            *p = '/';
        }
    }
    if (mkdir(buf, 0777) != 0 && errno != EEXIST) {
        return -errno;
    }
    return 0;
}

static int ms_storage_number(const char *name)
{
    if (strlen(name) < 6 || !isdigit((unsigned char)name[0]) || !isdigit((unsigned char)name[1]) ||
        !isdigit((unsigned char)name[2]) || !isdigit((unsigned char)name[3]) || name[4] != '_') {
        return -1;
    }
    size_t len = strlen(name);
    if (len < 5 || strcmp(name + len - 5, ".json") != 0) {
        return -1;
    }
    return (name[0] - '0') * 1000 + (name[1] - '0') * 100 + (name[2] - '0') * 10 + (name[3] - '0');
}

enum ms_status ms_storage_save(const char *storage, const struct ms_run *run, const char *name, int include_data, char *saved,
                    size_t saved_len, struct ms_error *err)
{
    char id[128], dir[4096], path[8192];
    ms_machine_id(id, sizeof id);
    snprintf(dir, sizeof dir, "%s/%s", storage, id);
    int rc = ms_storage_mkdirs(dir);
    if (rc) {
        return ms_error_set(err, rc, "%s: cannot create: %s", dir, strerror(-rc));
    }
    int highest = 0;
    DIR *d = opendir(dir);
    if (!d) {
        int e = errno;
        return ms_error_set(err, -e, "%s: cannot read: %s", dir, strerror(e));
    }
    for (struct dirent *e; (e = readdir(d));) {
        int n = ms_storage_number(e->d_name);
        if (n > highest) {
            highest = n;
        }
    }
    closedir(d);
    if (highest >= 9999) {
        return ms_error_set(err, -ENOSPC, "%s: run numbers exhausted (9999)", dir);
    }
    if ((size_t)snprintf(path, sizeof path, "%s/%04d_%s.json", dir, highest + 1, name) >= sizeof path) {
        return ms_error_set(err, -ENAMETOOLONG, "%s: name too long", dir);
    }
    rc = ms_json_write(run, path, include_data, err);
    if (!rc && saved) {
        snprintf(saved, saved_len, "%s", path);
    }
    return rc;
}

enum ms_status ms_storage_find(const char *storage, const char *spec, char *path, size_t len, struct ms_error *err)
{
    struct stat st;
    if (spec && *spec && stat(spec, &st) == 0 && S_ISREG(st.st_mode)) {
        snprintf(path, len, "%s", spec);
        return 0;
    }
    char id[128], dir[4096];
    ms_machine_id(id, sizeof id);
    snprintf(dir, sizeof dir, "%s/%s", storage, id);
    DIR *d = opendir(dir);
    if (!d) {
        return ms_error_set(err, -ENOENT, "Can't compare. No benchmark files in '%s'", dir);
    }
    int best = -1;
    char best_name[1024] = "";
    size_t slen = spec ? strlen(spec) : 0;
    for (struct dirent *e; (e = readdir(d));) {
        int n = ms_storage_number(e->d_name);
        if (n < 0) {
            continue;
        }
        /* NUM selects by prefix (0001 or 1), anything else by name: 0003_baseline.json matches "baseline". */
        if (slen) {
            int match;
            if (strspn(spec, "0123456789") == slen) {
                match = atoi(spec) == n;
            } else {
                size_t dlen = strlen(e->d_name);
                match = (dlen > 5 + slen && strncmp(e->d_name + 5, spec, slen) == 0 && e->d_name[5 + slen] == '.') ||
                        (dlen > slen && strncmp(e->d_name, spec, slen) == 0 && e->d_name[slen] == '.');
            }
            if (!match) {
                continue;
            }
        }
        if (n > best) {
            best = n;
            snprintf(best_name, sizeof best_name, "%s", e->d_name);
        }
    }
    closedir(d);
    if (best < 0) {
        return ms_error_set(err, -ENOENT, "Can't compare. No benchmark files in '%s'%s%s%s", dir,
                          slen ? " match '" : "", slen ? spec : "", slen ? "'" : "");
    }
    snprintf(path, len, "%s/%s", dir, best_name);
    return 0;
}

void ms_storage_autosave_name(const json_t *commit_info, char *buf, size_t len)
{
    const char *id = json_string_value(json_object_get(commit_info, "id"));
    int dirty = json_is_true(json_object_get(commit_info, "dirty"));
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    char stamp[32];
    strftime(stamp, sizeof stamp, "%Y%m%d_%H%M%S", &tm);
    snprintf(buf, len, "%s_%s%s", id ? id : "unversioned", stamp, dirty ? "_uncommitted-changes" : "");
}
