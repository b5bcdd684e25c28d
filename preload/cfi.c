/* What the call frame information (.eh_frame, found through PT_GNU_EH_FRAME's binary search table) says
 * about one code address, reduced to the few x86_64 rules a fast walker can follow: CFA = rsp+k or rbp+k,
 * return address at CFA-8, rbp saved at CFA-8n or unchanged. Everything else (DWARF expressions, signal
 * frames, registers saved in registers, unusual encodings) comes back as MS_CFI_OTHER. */
#include "preload.h"

#include <link.h>
#include <stdbool.h>
#include <string.h>

enum {
    DW_EH_PE_absptr = 0x00, DW_EH_PE_uleb128 = 0x01, DW_EH_PE_udata2 = 0x02, DW_EH_PE_udata4 = 0x03,
    DW_EH_PE_udata8 = 0x04, DW_EH_PE_sleb128 = 0x09, DW_EH_PE_sdata2 = 0x0a, DW_EH_PE_sdata4 = 0x0b,
    DW_EH_PE_sdata8 = 0x0c, DW_EH_PE_pcrel = 0x10, DW_EH_PE_datarel = 0x30, DW_EH_PE_indirect = 0x80,
    DW_EH_PE_omit = 0xff,
};

enum { DW_REG_RBP = 6, DW_REG_RSP = 7, DW_REG_RA = 16 };

/* How a register of the caller is found. */
enum { HOW_SAME, HOW_OFFSET, HOW_UNDEFINED, HOW_OTHER };

struct cfi_row {
    uint64_t cfa_reg;
    int64_t cfa_off;
    bool cfa_expr;
    uint8_t rbp_how, ra_how;
    int64_t rbp_off, ra_off;
};

struct cfi_reader {
    const uint8_t *p, *end;
    bool bad;
};

static uint8_t cfi_u8(struct cfi_reader *r)
{
    if (r->p >= r->end) {
        r->bad = true;
        return 0;
    }
    return *r->p++;
}

static uint64_t cfi_fixed(struct cfi_reader *r, size_t n)
{
    uint64_t v = 0;
    if ((size_t)(r->end - r->p) < n) {
        r->bad = true;
        r->p = r->end;
        return 0;
    }
    memcpy(&v, r->p, n); /* little endian */
    r->p += n;
    return v;
}

static uint64_t cfi_uleb(struct cfi_reader *r)
{
    uint64_t v = 0;
    for (unsigned shift = 0; shift < 64; shift += 7) {
        uint8_t b = cfi_u8(r);
        v |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80)) {
            return v;
        }
    }
    r->bad = true;
    return 0;
}

static int64_t cfi_sleb(struct cfi_reader *r)
{
    uint64_t v = 0;
    for (unsigned shift = 0; shift < 64; shift += 7) {
        uint8_t b = cfi_u8(r);
        v |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80)) {
            if (shift + 7 < 64 && (b & 0x40)) {
                v |= ~(uint64_t)0 << (shift + 7);
            }
            return (int64_t)v;
        }
    }
    r->bad = true;
    return 0;
}

/* An encoded pointer: pc-relative and data-relative (to `datarel`) applications only. */
static uintptr_t cfi_pointer(struct cfi_reader *r, uint8_t enc, uintptr_t datarel)
{
    uintptr_t at = (uintptr_t)r->p;
    uint64_t v;
    switch (enc & 0x0f) {
    case DW_EH_PE_absptr: v = cfi_fixed(r, 8); break;
    case DW_EH_PE_uleb128: v = cfi_uleb(r); break;
    case DW_EH_PE_udata2: v = cfi_fixed(r, 2); break;
    case DW_EH_PE_udata4: v = cfi_fixed(r, 4); break;
    case DW_EH_PE_udata8: v = cfi_fixed(r, 8); break;
    case DW_EH_PE_sleb128: v = (uint64_t)cfi_sleb(r); break;
    case DW_EH_PE_sdata2: v = (uint64_t)(int64_t)(int16_t)cfi_fixed(r, 2); break;
    case DW_EH_PE_sdata4: v = (uint64_t)(int64_t)(int32_t)cfi_fixed(r, 4); break;
    case DW_EH_PE_sdata8: v = cfi_fixed(r, 8); break;
    default: r->bad = true; return 0;
    }
    switch (enc & 0x70) {
    case 0: break;
    case DW_EH_PE_pcrel: v += at; break;
    case DW_EH_PE_datarel: v += datarel; break;
    default: r->bad = true; return 0;
    }
    /* Only personality routines are indirect; their value is never needed here. */
    return (uintptr_t)v;
}

/* One CIE or FDE record at p: sets r to its contents after the id field; returns the id field's address. */
static const uint8_t *cfi_record(const uint8_t *p, struct cfi_reader *r, uint64_t *id)
{
    struct cfi_reader h = {p, p + 12, false};
    uint64_t len = cfi_fixed(&h, 4);
    if (len == 0xffffffffu) {
        h.end = p + 20;
        len = cfi_fixed(&h, 8);
    }
    const uint8_t *id_at = h.p;
    if (len < 4 || len > (1u << 24)) {
        r->bad = true;
        return id_at;
    }
    r->p = h.p;
    r->end = h.p + len;
    r->bad = false;
    *id = cfi_fixed(r, 4);
    return id_at;
}

struct cfi_cie {
    uint64_t code_align;
    int64_t data_align;
    uint8_t fde_enc;
    bool has_z, signal;
    struct cfi_reader program;
};

static bool cfi_parse_cie(const uint8_t *at, struct cfi_cie *cie)
{
    struct cfi_reader r;
    uint64_t id;
    cfi_record(at, &r, &id);
    if (r.bad || id != 0) {
        return false;
    }
    uint8_t version = cfi_u8(&r);
    if (version != 1 && version != 3) {
        return false;
    }
    const char *aug = (const char *)r.p;
    size_t aug_len = strnlen(aug, (size_t)(r.end - r.p));
    if (aug_len == (size_t)(r.end - r.p)) {
        return false;
    }
    r.p += aug_len + 1;
    cie->code_align = cfi_uleb(&r);
    cie->data_align = cfi_sleb(&r);
    uint64_t ra = version == 1 ? cfi_u8(&r) : cfi_uleb(&r);
    cie->fde_enc = DW_EH_PE_absptr;
    cie->has_z = aug[0] == 'z';
    cie->signal = false;
    if (ra != DW_REG_RA || (aug_len > 0 && !cie->has_z)) {
        return false;
    }
    const uint8_t *program = r.p;
    if (cie->has_z) {
        uint64_t len = cfi_uleb(&r);
        if (len > (uint64_t)(r.end - r.p)) {
            return false;
        }
        program = r.p + len;
        for (size_t i = 1; i < aug_len && !r.bad; i++) {
            switch (aug[i]) {
            case 'R': cie->fde_enc = cfi_u8(&r); break;
            case 'L': cfi_u8(&r); break;
            case 'P': cfi_pointer(&r, cfi_u8(&r) & 0x7f, 0); break;
            case 'S': cie->signal = true; break;
            default: return false;
            }
        }
    }
    cie->program = (struct cfi_reader){program, r.end, false};
    return !r.bad && program <= r.end;
}

static void cfi_set(struct cfi_row *row, uint64_t reg, uint8_t how, int64_t off)
{
    if (reg == DW_REG_RBP) {
        row->rbp_how = how;
        row->rbp_off = off;
    } else if (reg == DW_REG_RA) {
        row->ra_how = how;
        row->ra_off = off;
    }
}

static void cfi_restore(struct cfi_row *row, const struct cfi_row *initial, uint64_t reg)
{
    if (reg == DW_REG_RBP) {
        cfi_set(row, reg, initial->rbp_how, initial->rbp_off);
    } else if (reg == DW_REG_RA) {
        cfi_set(row, reg, initial->ra_how, initial->ra_off);
    }
}

/* Runs a CFA program while its location is <= pc. false when it uses something not modelled here. */
static bool cfi_run(struct cfi_reader *r, const struct cfi_cie *cie, const struct cfi_row *initial,
                    struct cfi_row *row, uintptr_t loc, uintptr_t pc)
{
    enum { STACK = 8 };
    struct cfi_row saved[STACK];
    int depth = 0;
    while (r->p < r->end && !r->bad) {
        uint8_t op = cfi_u8(r);
        uint64_t reg, delta = 0;
        switch (op & 0xc0) {
        case 0x40:
            delta = op & 0x3f;
            goto advance;
        case 0x80:
            reg = op & 0x3f;
            cfi_set(row, reg, HOW_OFFSET, (int64_t)cfi_uleb(r) * cie->data_align);
            continue;
        case 0xc0:
            cfi_restore(row, initial, op & 0x3f);
            continue;
        default:
            break;
        }
        switch (op) {
        case 0x00: /* nop */
            continue;
        case 0x01: /* set_loc */
            loc = cfi_pointer(r, cie->fde_enc, 0);
            if (loc > pc) {
                return !r->bad;
            }
            continue;
        case 0x02: delta = cfi_u8(r); goto advance;
        case 0x03: delta = cfi_fixed(r, 2); goto advance;
        case 0x04: delta = cfi_fixed(r, 4); goto advance;
        case 0x05: /* offset_extended */
            reg = cfi_uleb(r);
            cfi_set(row, reg, HOW_OFFSET, (int64_t)cfi_uleb(r) * cie->data_align);
            continue;
        case 0x06: /* restore_extended */
            cfi_restore(row, initial, cfi_uleb(r));
            continue;
        case 0x07: /* undefined */
            cfi_set(row, cfi_uleb(r), HOW_UNDEFINED, 0);
            continue;
        case 0x08: /* same_value */
            cfi_set(row, cfi_uleb(r), HOW_SAME, 0);
            continue;
        case 0x09: /* register */
            reg = cfi_uleb(r);
            cfi_uleb(r);
            cfi_set(row, reg, HOW_OTHER, 0);
            continue;
        case 0x0a: /* remember_state */
            if (depth == STACK) {
                return false;
            }
            saved[depth++] = *row;
            continue;
        case 0x0b: /* restore_state */
            if (depth == 0) {
                return false;
            }
            *row = saved[--depth];
            continue;
        case 0x0c: /* def_cfa */
            row->cfa_reg = cfi_uleb(r);
            row->cfa_off = (int64_t)cfi_uleb(r);
            row->cfa_expr = false;
            continue;
        case 0x0d: /* def_cfa_register */
            row->cfa_reg = cfi_uleb(r);
            row->cfa_expr = false;
            continue;
        case 0x0e: /* def_cfa_offset */
            row->cfa_off = (int64_t)cfi_uleb(r);
            continue;
        case 0x0f: /* def_cfa_expression */
            delta = cfi_uleb(r);
            if (delta > (uint64_t)(r->end - r->p)) {
                return false;
            }
            r->p += delta;
            row->cfa_expr = true;
            continue;
        case 0x10: /* expression */
        case 0x16: /* val_expression */
            reg = cfi_uleb(r);
            delta = cfi_uleb(r);
            if (delta > (uint64_t)(r->end - r->p)) {
                return false;
            }
            r->p += delta;
            cfi_set(row, reg, HOW_OTHER, 0);
            continue;
        case 0x11: /* offset_extended_sf */
            reg = cfi_uleb(r);
            cfi_set(row, reg, HOW_OFFSET, cfi_sleb(r) * cie->data_align);
            continue;
        case 0x12: /* def_cfa_sf */
            row->cfa_reg = cfi_uleb(r);
            row->cfa_off = cfi_sleb(r) * cie->data_align;
            row->cfa_expr = false;
            continue;
        case 0x13: /* def_cfa_offset_sf */
            row->cfa_off = cfi_sleb(r) * cie->data_align;
            continue;
        case 0x14: /* val_offset */
            reg = cfi_uleb(r);
            cfi_uleb(r);
            cfi_set(row, reg, HOW_OTHER, 0);
            continue;
        case 0x15: /* val_offset_sf */
            reg = cfi_uleb(r);
            cfi_sleb(r);
            cfi_set(row, reg, HOW_OTHER, 0);
            continue;
        case 0x2e: /* GNU_args_size */
            cfi_uleb(r);
            continue;
        case 0x2f: /* GNU_negative_offset_extended */
            reg = cfi_uleb(r);
            cfi_set(row, reg, HOW_OFFSET, -(int64_t)cfi_uleb(r) * cie->data_align);
            continue;
        default:
            return false;
        }
    advance:
        loc += delta * cie->code_align;
        if (loc > pc) {
            return !r->bad;
        }
    }
    return !r->bad;
}

/* The FDE covering pc through .eh_frame_hdr's sorted table; NULL when there is none, with *readable
 * false when the table is in a form not read here. */
static const uint8_t *cfi_find_fde(uintptr_t hdr_addr, uintptr_t pc, bool *readable)
{
    const uint8_t *hdr = (const uint8_t *)hdr_addr;
    *readable = hdr[0] == 1 && hdr[3] == (DW_EH_PE_datarel | DW_EH_PE_sdata4);
    if (!*readable) {
        return NULL;
    }
    struct cfi_reader r = {hdr + 4, hdr + 4 + 2 * 9, false};
    cfi_pointer(&r, hdr[1], hdr_addr);
    uintptr_t count = hdr[2] == DW_EH_PE_omit ? 0 : cfi_pointer(&r, hdr[2], hdr_addr);
    if (r.bad || count == 0) {
        return NULL;
    }
    const int32_t *table = (const int32_t *)(const void *)r.p;
    uintptr_t lo = 0, hi = count;
    while (hi - lo > 1) {
        uintptr_t mid = lo + (hi - lo) / 2;
        if (hdr_addr + (intptr_t)table[2 * mid] <= pc) {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    if (hdr_addr + (intptr_t)table[2 * lo] > pc) {
        return NULL;
    }
    return (const uint8_t *)(hdr_addr + (intptr_t)table[2 * lo + 1]);
}

static const struct ms_cfi_rule cfi_frame_pointer = {MS_CFI_RBP, 16, 16};

static struct ms_cfi_rule cfi_rule_from_fde(const uint8_t *fde, uintptr_t pc)
{
    const struct ms_cfi_rule other = {MS_CFI_OTHER, 0, 0};
    struct cfi_reader r;
    uint64_t cie_off;
    const uint8_t *id_at = cfi_record(fde, &r, &cie_off);
    struct cfi_cie cie;
    if (r.bad || cie_off == 0 || !cfi_parse_cie(id_at - cie_off, &cie) || cie.signal) {
        return other;
    }
    uintptr_t begin = cfi_pointer(&r, cie.fde_enc, 0);
    uintptr_t range = cfi_pointer(&r, cie.fde_enc & 0x0f, 0);
    if (r.bad) {
        return other;
    }
    if (pc < begin || pc - begin >= range) {
        return cfi_frame_pointer; /* between FDEs: code without CFI */
    }
    if (cie.has_z) {
        uint64_t len = cfi_uleb(&r);
        if (len > (uint64_t)(r.end - r.p)) {
            return other;
        }
        r.p += len;
    }
    /* x86_64 psABI: before the CIE says otherwise, rbp is callee-saved, i.e. unchanged. A return address
     * the CIE does not place is left to libunwind; only an explicit DW_CFA_undefined ends the stack. */
    struct cfi_row initial = {.cfa_reg = DW_REG_RSP, .cfa_off = 8, .rbp_how = HOW_SAME, .ra_how = HOW_OTHER};
    if (!cfi_run(&cie.program, &cie, &initial, &initial, begin, (uintptr_t)-1)) {
        return other;
    }
    struct cfi_row row = initial;
    if (!cfi_run(&r, &cie, &initial, &row, begin, pc)) {
        return other;
    }

    if (row.ra_how == HOW_UNDEFINED) {
        return (struct ms_cfi_rule){MS_CFI_OUTERMOST, 0, 0};
    }
    if (row.cfa_expr || (row.cfa_reg != DW_REG_RSP && row.cfa_reg != DW_REG_RBP) ||
        row.ra_how != HOW_OFFSET || row.ra_off != -8 || row.cfa_off < 8 || row.cfa_off % 8 != 0 ||
        row.cfa_off >= MS_CFI_MAX_CFA_OFFSET) {
        return other;
    }
    struct ms_cfi_rule rule = {row.cfa_reg == DW_REG_RSP ? MS_CFI_RSP : MS_CFI_RBP, (uint32_t)row.cfa_off, 0};
    if (row.rbp_how == HOW_OFFSET) {
        if (row.rbp_off > -16 || row.rbp_off % 8 != 0 || -row.rbp_off >= MS_CFI_MAX_RBP_OFFSET) {
            return other;
        }
        rule.rbp_offset = (uint32_t)-row.rbp_off;
    } else if (row.rbp_how != HOW_SAME) {
        return other;
    }
    return rule;
}

struct cfi_query {
    uintptr_t pc;
    struct ms_cfi_rule rule;
};

/* Runs with the loader's lock held, so the module cannot be unmapped while its CFI is read. */
static int cfi_module(struct dl_phdr_info *info, size_t size, void *data)
{
    (void)size;
    struct cfi_query *q = data;
    const ElfW(Phdr) *eh = NULL;
    int inside = 0; /* 1: in a segment, 2: in an executable one */
    for (ElfW(Half) i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        uintptr_t start = info->dlpi_addr + ph->p_vaddr;
        if (ph->p_type == PT_LOAD && q->pc >= start && q->pc - start < ph->p_memsz) {
            inside = (ph->p_flags & PF_X) ? 2 : 1;
        } else if (ph->p_type == PT_GNU_EH_FRAME) {
            eh = ph;
        }
    }
    if (!inside) {
        return 0;
    }
    q->rule = (struct ms_cfi_rule){MS_CFI_NOT_CODE, 0, 0};
    if (inside == 2) {
        bool readable = true;
        const uint8_t *fde = eh != NULL ? cfi_find_fde(info->dlpi_addr + eh->p_vaddr, q->pc, &readable) : NULL;
        q->rule = fde != NULL ? cfi_rule_from_fde(fde, q->pc)
                  : readable  ? cfi_frame_pointer
                              : (struct ms_cfi_rule){MS_CFI_OTHER, 0, 0};
    }
    return 1;
}

struct ms_cfi_rule ms_cfi_lookup(uintptr_t pc)
{
    struct cfi_query q = {pc, {MS_CFI_OTHER, 0, 0}};
    if (dl_iterate_phdr(cfi_module, &q) == 0) {
        /* In no module: JIT code keeps frame pointers (V8, the JVM, LuaJIT); anything else is garbage. */
        q.rule = ms_codemap_contains(pc) ? cfi_frame_pointer : (struct ms_cfi_rule){MS_CFI_NOT_CODE, 0, 0};
    }
    return q.rule;
}
