/* libFuzzer target for every command's whole pipeline: read, symbolize (against a crafted ELF), group,
 * render. The input is a snapshot; its checksum is made right so that mutations get past the reader, and
 * the bytes after a "\0ELF" marker, if any, become the file every module of the snapshot resolves to. Any
 * input must end in MS_OK or a clean error: never a crash, undefined behaviour, a hang or a huge output. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "analyze.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char fuzz_pipeline_dir[64];
static char fuzz_pipeline_files[8][300]; /* the ELF copies of this input, removed after it */
static int fuzz_pipeline_nfiles;

/* The snapshot part as a file, with its END checksum recomputed. */
static int fuzz_pipeline_write_snap(const char *path, const uint8_t *data, size_t size)
{
    FILE *f = fopen(path, "wb");
    if (!f)
        return -1;
    uint8_t *copy = malloc(size ? size : 1);
    if (!copy) {
        fclose(f);
        return -1;
    }
    memcpy(copy, data, size);
    if (size >= 64 + 24) {
        uint64_t sum = ms_fmt_checksum(MS_FMT_CHECKSUM_SEED, copy, size - 24);
        memcpy(copy + size - 8, &sum, 8);
    }
    int ok = fwrite(copy, 1, size, f) == size;
    free(copy);
    return fclose(f) == 0 && ok ? 0 : -1;
}

/* The ELF part under each module's base name in the debug directory. */
static void fuzz_pipeline_write_elfs(const char *snap, const uint8_t *elf, size_t len)
{
    struct ms_snap *s;
    struct ms_error err;
    if (!elf || ms_snapfile_read(snap, &s, &err) != MS_OK)
        return;
    for (uint32_t i = 0; i < s->module_count && i < 8; i++) {
        const char *base = strrchr(s->modules[i].path, '/');
        base = base ? base + 1 : s->modules[i].path;
        if (!*base || !strcmp(base, ".") || !strcmp(base, "..") || strlen(base) > 200)
            continue;
        char *path = fuzz_pipeline_files[fuzz_pipeline_nfiles++];
        snprintf(path, sizeof fuzz_pipeline_files[0], "%s/%s", fuzz_pipeline_dir, base);
        FILE *f = fopen(path, "wb");
        if (f) {
            fwrite(elf, 1, len, f);
            fclose(f);
        }
    }
    ms_snapfile_free(s);
}

static void fuzz_pipeline_clean(void)
{
    for (int i = 0; i < fuzz_pipeline_nfiles; i++)
        unlink(fuzz_pipeline_files[i]);
    fuzz_pipeline_nfiles = 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!fuzz_pipeline_dir[0]) {
        snprintf(fuzz_pipeline_dir, sizeof fuzz_pipeline_dir, "/tmp/fuzz-pipeline-%d", (int)getpid());
        mkdir(fuzz_pipeline_dir, 0700);
    }
    const uint8_t *elf = NULL;
    size_t snap_len = size, elf_len = 0;
    for (size_t i = 0; i + 4 <= size; i++)
        if (!memcmp(data + i, "\0ELF", 4)) {
            snap_len = i;
            elf = data + i + 1; /* "\x7f" is not in the marker: put it back as the ELF's first byte */
            elf_len = size - i - 1;
            break;
        }
    char snap[128], out[128];
    snprintf(snap, sizeof snap, "%s/in.snap", fuzz_pipeline_dir);
    snprintf(out, sizeof out, "%s/out", fuzz_pipeline_dir);
    if (fuzz_pipeline_write_snap(snap, data, snap_len) != 0)
        return 0;
    uint8_t *elf_copy = NULL;
    if (elf) {
        elf_copy = malloc(elf_len + 1);
        if (!elf_copy)
            return 0;
        elf_copy[0] = 0x7f;
        memcpy(elf_copy + 1, elf, elf_len);
        fuzz_pipeline_write_elfs(snap, elf_copy, elf_len + 1);
    }
    FILE *null = fopen("/dev/null", "w");
    const char *dirs[] = {fuzz_pipeline_dir, NULL};
    char *two[] = {snap, snap};
    /* The sysroot keeps module paths off this machine's real files: only the crafted ELF is found. */
    struct ms_cli cli = {.limit = 10, .sym = {.sysroot = fuzz_pipeline_dir, .debug_dirs = dirs, .quiet = true},
                         .inputs = two,
                         .input_count = 1, .out = null};
    struct ms_error err;
    for (int format = 0; null && format < 2; format++) {
        cli.format = format ? MS_OUT_JSON : MS_OUT_TEXT;
        cli.input_count = 1;
        ms_top_main(&cli, &err);
        ms_leaks_main(&cli, &err);
        ms_dump_main(&cli, &err);
        cli.function = "main";
        ms_lines_main(&cli, &err);
        cli.function = NULL;
        cli.input_count = 2;
        ms_diff_main(&cli, &err);
        ms_growth_main(&cli, &err);
    }
    struct ms_export_opts o = {.output = out};
    for (int f = MS_EXPORT_COLLAPSED; null && f <= MS_EXPORT_MASSIF; f++) {
        o.format = (enum ms_export_format)f;
        cli.input_count = f == MS_EXPORT_MASSIF ? 2 : 1;
        ms_export_main(&cli, &o, &err);
    }
    cli.input_count = 1;
    if (null) {
        ms_flamegraph_main(&cli, &o, &err);
        cli.input_count = 2;
        ms_plot_main(&cli, &o, &err);
        fclose(null);
    }
    free(elf_copy);
    fuzz_pipeline_clean();
    return 0;
}
