/* machine_info and commit_info of a run, with pytest-benchmark's keys. */
#include "harness.h"

#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <unistd.h>

static void ms_machine_cpu_brand(char *buf, size_t len)
{
    snprintf(buf, len, "unknown");
    FILE *f = fopen("/proc/cpuinfo", "r");
    if (!f) {
        return;
    }
    char line[512];
    while (fgets(line, sizeof line, f)) {
        if (strncmp(line, "model name", 10) == 0) {
            char *colon = strchr(line, ':');
            if (colon) {
                colon++;
                colon += strspn(colon, " \t");
                colon[strcspn(colon, "\n")] = 0;
                snprintf(buf, len, "%s", colon);
            }
            break;
        }
    }
    fclose(f);
}

json_t *ms_machine_info(void)
{
    struct utsname u;
    if (uname(&u) != 0) {
        memset(&u, 0, sizeof u);
    }
    char brand[256];
    ms_machine_cpu_brand(brand, sizeof brand);
    json_t *cpu = json_object();
    json_object_set_new(cpu, "brand_raw", json_string(brand));
    json_object_set_new(cpu, "count", json_integer(sysconf(_SC_NPROCESSORS_ONLN)));
    json_object_set_new(cpu, "arch", json_string(u.machine));
    json_t *m = json_object();
    json_object_set_new(m, "node", json_string(u.nodename));
    json_object_set_new(m, "processor", json_string(u.machine));
    json_object_set_new(m, "machine", json_string(u.machine));
    /* The python_* keys are what pytest-benchmark's tools display; here they describe the C toolchain. */
    json_object_set_new(m, "python_compiler", json_string("GCC " __VERSION__));
    json_object_set_new(m, "python_implementation", json_string("C"));
    json_object_set_new(m, "python_implementation_version", json_string("C11"));
    json_object_set_new(m, "python_version", json_string("C11"));
    json_object_set_new(m, "python_build", json_array());
    json_object_set_new(m, "release", json_string(u.release));
    json_object_set_new(m, "system", json_string(u.sysname));
    json_object_set_new(m, "cpu", cpu);
    return m;
}

/* First line of a command's output, or NULL. */
static char *ms_machine_run(const char *cmd)
{
    FILE *p = popen(cmd, "r");
    if (!p) {
        return NULL;
    }
    char line[512];
    char *out = NULL;
    if (fgets(line, sizeof line, p)) {
        line[strcspn(line, "\n")] = 0;
        out = strdup(line);
    }
    if (pclose(p) != 0) {
        free(out);
        return NULL;
    }
    return out;
}

json_t *ms_machine_commit_info(void)
{
    json_t *c = json_object();
    char *id = ms_machine_run("git rev-parse HEAD 2>/dev/null");
    if (!id) {
        json_object_set_new(c, "id", json_string("unversioned"));
        json_object_set_new(c, "time", json_null());
        json_object_set_new(c, "author_time", json_null());
        json_object_set_new(c, "dirty", json_false());
        json_object_set_new(c, "project", json_string("memsnap"));
        json_object_set_new(c, "branch", json_string("(unknown)"));
        return c;
    }
    char *time = ms_machine_run("git show -s --pretty=format:%cI HEAD 2>/dev/null");
    char *atime = ms_machine_run("git show -s --pretty=format:%aI HEAD 2>/dev/null");
    char *branch = ms_machine_run("git rev-parse --abbrev-ref HEAD 2>/dev/null");
    char *top = ms_machine_run("git rev-parse --show-toplevel 2>/dev/null");
    char *status = ms_machine_run("git status --porcelain --untracked-files=no 2>/dev/null | head -1");
    const char *project = top && strrchr(top, '/') ? strrchr(top, '/') + 1 : "memsnap";
    json_object_set_new(c, "id", json_string(id));
    json_object_set_new(c, "time", time ? json_string(time) : json_null());
    json_object_set_new(c, "author_time", atime ? json_string(atime) : json_null());
    json_object_set_new(c, "dirty", json_boolean(status && *status));
    json_object_set_new(c, "project", json_string(project));
    json_object_set_new(c, "branch",
                        json_string(branch ? (strcmp(branch, "HEAD") == 0 ? "(detached head)" : branch) : "(unknown)"));
    free(id);
    free(time);
    free(atime);
    free(branch);
    free(top);
    free(status);
    return c;
}

void ms_machine_id(char *buf, size_t len)
{
    struct utsname u;
    if (uname(&u) != 0) {
        snprintf(u.sysname, sizeof u.sysname, "unknown");
        snprintf(u.machine, sizeof u.machine, "unknown");
    }
    snprintf(buf, len, "%s-C-%s-%dbit", u.sysname, u.machine, (int)(sizeof(void *) * 8));
}
