/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The varlink interface definition language, read far enough to check a
 * message against it: types (structs, enums, named types, ?optional,
 * []arrays, [string]maps, bool/int/float/string/object), methods and
 * errors. vuctl checks every reply against the io.vusidecar description it
 * was built with, so a daemon (or anything else on the socket) that sends
 * a field of the wrong type or leaves a required one out gets a clear
 * "malformed reply" instead of a crash or a table of garbage; the unit
 * tests check the description itself. Parsing is strict about the grammar
 * it knows and refuses the rest with -EBADMSG.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "macro.h"
#include "varlink.h"

typedef enum IdlKind {
        IDL_BOOL,
        IDL_INT,
        IDL_FLOAT,
        IDL_STRING,
        IDL_OBJECT, /* any JSON object */
        IDL_NAMED,  /* a type declared with "type Name" */
        IDL_STRUCT,
        IDL_ENUM,
        IDL_ARRAY, /* []T */
        IDL_MAP,   /* [string]T */
} IdlKind;

typedef struct IdlType IdlType;

typedef struct IdlField {
        char *name;
        IdlType *type;
} IdlField;

struct IdlType {
        IdlKind kind;
        bool nullable;
        char *name;       /* IDL_NAMED */
        IdlType *element; /* IDL_ARRAY, IDL_MAP */
        IdlField *fields; /* IDL_STRUCT; IDL_ENUM: names only */
        size_t n_fields;
};

typedef enum IdlMemberKind {
        IDL_MEMBER_TYPE,
        IDL_MEMBER_METHOD,
        IDL_MEMBER_ERROR,
} IdlMemberKind;

typedef struct IdlMember {
        IdlMemberKind kind;
        char *name;
        IdlType *input;  /* methods: parameters; types and errors: their struct */
        IdlType *output; /* methods */
} IdlMember;

struct VarlinkIdl {
        char *interface;
        IdlMember *members;
        size_t n_members;
};

/* ---- parsing ------------------------------------------------------------ */

typedef struct IdlParser {
        const char *p;
} IdlParser;

static void skip_space(IdlParser *ps) {
        for (;;) {
                while (*ps->p == ' ' || *ps->p == '\t' || *ps->p == '\n' || *ps->p == '\r')
                        ps->p++;
                if (*ps->p != '#')
                        return;
                while (*ps->p && *ps->p != '\n')
                        ps->p++;
        }
}

static bool is_ident_char(char c, bool first) {
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
               (!first && ((c >= '0' && c <= '9') || c == '.' || c == '-'));
}

/* An identifier (interface names may have dots and dashes). Returns a new string or NULL. */
static char *parse_ident(IdlParser *ps) {
        const char *start;

        skip_space(ps);
        start = ps->p;
        if (!is_ident_char(*ps->p, true))
                return NULL;
        while (is_ident_char(*ps->p, false))
                ps->p++;
        return strndup(start, (size_t) (ps->p - start));
}

static bool accept(IdlParser *ps, const char *token) {
        size_t n = strlen(token);

        skip_space(ps);
        if (strncmp(ps->p, token, n) != 0)
                return false;
        ps->p += n;
        return true;
}

static IdlType *type_free(IdlType *t) {
        if (!t)
                return NULL;
        free(t->name);
        type_free(t->element);
        for (size_t i = 0; i < t->n_fields; i++) {
                free(t->fields[i].name);
                type_free(t->fields[i].type);
        }
        free(t->fields);
        free(t);
        return NULL;
}

static IdlType *parse_type(IdlParser *ps, unsigned depth);

/* "(" already read: "a: T, b: ?U)" (a struct) or "a, b, c)" (an enum); "()" is an empty struct. */
static IdlType *parse_struct(IdlParser *ps, unsigned depth) {
        IdlType *t = calloc(1, sizeof(*t));

        if (!t)
                return NULL;
        t->kind = IDL_STRUCT;
        if (accept(ps, ")"))
                return t;
        for (size_t i = 0;; i++) {
                IdlField *f;
                char *name = parse_ident(ps);

                if (!name)
                        return type_free(t);
                f = realloc(t->fields, (t->n_fields + 1) * sizeof(IdlField));
                if (!f) {
                        free(name);
                        return type_free(t);
                }
                t->fields = f;
                t->fields[t->n_fields++] = (IdlField){.name = name};
                if (accept(ps, ":")) {
                        if (i > 0 && t->kind == IDL_ENUM)
                                return type_free(t);
                        t->fields[t->n_fields - 1].type = parse_type(ps, depth + 1);
                        if (!t->fields[t->n_fields - 1].type)
                                return type_free(t);
                } else {
                        if (i > 0 && t->kind == IDL_STRUCT)
                                return type_free(t);
                        t->kind = IDL_ENUM;
                }
                if (accept(ps, ")"))
                        return t;
                if (!accept(ps, ","))
                        return type_free(t);
        }
}

static IdlType *parse_type(IdlParser *ps, unsigned depth) {
        static const struct {
                const char *name;
                IdlKind kind;
        } basic[] = {
                {"bool", IDL_BOOL},     {"int", IDL_INT},       {"float", IDL_FLOAT},
                {"string", IDL_STRING}, {"object", IDL_OBJECT},
        };
        bool nullable = false;
        IdlType *t;
        char *name;

        if (depth > 32)
                return NULL;
        if (accept(ps, "?"))
                nullable = true;
        if (accept(ps, "[")) {
                IdlKind kind = IDL_ARRAY;

                if (accept(ps, "string"))
                        kind = IDL_MAP;
                if (!accept(ps, "]"))
                        return NULL;
                t = calloc(1, sizeof(*t));
                if (!t)
                        return NULL;
                t->kind = kind;
                t->element = parse_type(ps, depth + 1);
                if (!t->element)
                        return type_free(t);
        } else if (accept(ps, "(")) {
                t = parse_struct(ps, depth);
                if (!t)
                        return NULL;
        } else {
                name = parse_ident(ps);
                if (!name)
                        return NULL;
                t = calloc(1, sizeof(*t));
                if (!t) {
                        free(name);
                        return NULL;
                }
                t->kind = IDL_NAMED;
                for (size_t i = 0; i < ELEMENTSOF(basic); i++)
                        if (strcmp(name, basic[i].name) == 0)
                                t->kind = basic[i].kind;
                if (t->kind == IDL_NAMED)
                        t->name = name;
                else
                        free(name);
        }
        t->nullable = nullable;
        return t;
}

VarlinkIdl *varlink_idl_free(VarlinkIdl *idl) {
        if (!idl)
                return NULL;
        for (size_t i = 0; i < idl->n_members; i++) {
                free(idl->members[i].name);
                type_free(idl->members[i].input);
                type_free(idl->members[i].output);
        }
        free(idl->members);
        free(idl->interface);
        free(idl);
        return NULL;
}

static void idl_freep(VarlinkIdl **idl) {
        varlink_idl_free(*idl);
}

int varlink_idl_parse(const char *text, VarlinkIdl **ret) {
        _cleanup_(idl_freep) VarlinkIdl *idl = calloc(1, sizeof(VarlinkIdl));
        IdlParser ps = {.p = text};

        if (!idl)
                return -ENOMEM;
        if (!accept(&ps, "interface"))
                return -EBADMSG;
        idl->interface = parse_ident(&ps);
        if (!idl->interface)
                return -EBADMSG;

        for (;;) {
                IdlMember m = {};
                IdlMember *p;

                skip_space(&ps);
                if (!*ps.p)
                        break;
                if (accept(&ps, "type"))
                        m.kind = IDL_MEMBER_TYPE;
                else if (accept(&ps, "method"))
                        m.kind = IDL_MEMBER_METHOD;
                else if (accept(&ps, "error"))
                        m.kind = IDL_MEMBER_ERROR;
                else
                        return -EBADMSG;
                m.name = parse_ident(&ps);
                if (!m.name)
                        return -EBADMSG;
                if (m.kind == IDL_MEMBER_TYPE)
                        m.input = parse_type(&ps, 0);
                else if (accept(&ps, "("))
                        m.input = parse_struct(&ps, 0);
                if (m.input && m.kind == IDL_MEMBER_METHOD) {
                        if (accept(&ps, "->") && accept(&ps, "("))
                                m.output = parse_struct(&ps, 0);
                        if (!m.output)
                                m.input = type_free(m.input);
                }
                if (!m.input) {
                        free(m.name);
                        return -EBADMSG;
                }
                p = realloc(idl->members, (idl->n_members + 1) * sizeof(IdlMember));
                if (!p) {
                        free(m.name);
                        type_free(m.input);
                        type_free(m.output);
                        return -ENOMEM;
                }
                idl->members = p;
                idl->members[idl->n_members++] = m;
        }
        *ret = TAKE_PTR(idl);
        return 0;
}

const char *varlink_idl_get_interface(const VarlinkIdl *idl) {
        return idl->interface;
}

static const IdlMember *idl_find(const VarlinkIdl *idl, IdlMemberKind kind, const char *name) {
        for (size_t i = 0; i < idl->n_members; i++)
                if (idl->members[i].kind == kind && strcmp(idl->members[i].name, name) == 0)
                        return &idl->members[i];
        return NULL;
}

/* ---- validating --------------------------------------------------------- */

typedef struct IdlCheck {
        const VarlinkIdl *idl;
        unsigned flags;
        char *problem; /* the first one found */
        char path[256];
} IdlCheck;

static int problem(IdlCheck *ck, const char *format, ...) _printf_(2, 3);
static int problem(IdlCheck *ck, const char *format, ...) {
        _cleanup_free_ char *what = NULL;
        va_list ap;
        int r;

        va_start(ap, format);
        r = vasprintf(&what, format, ap);
        va_end(ap);
        if (r < 0)
                return -ENOMEM;
        if (ck->path[0])
                r = asprintf(&ck->problem, "%s: %s", ck->path, what);
        else
                r = asprintf(&ck->problem, "%s", what);
        if (r < 0) {
                ck->problem = NULL;
                return -ENOMEM;
        }
        return -EBADMSG;
}

static const char *kind_name(const IdlType *t) {
        switch (t->kind) {
        case IDL_BOOL:
                return "a boolean";
        case IDL_INT:
                return "an integer";
        case IDL_FLOAT:
                return "a number";
        case IDL_STRING:
        case IDL_ENUM:
                return "a string";
        case IDL_ARRAY:
                return "an array";
        default:
                return "an object";
        }
}

static int check_value(IdlCheck *ck, const IdlType *t, json_object *v, unsigned depth);

/* Append ".name" or "[i]" to the path for a nested check, and take it off after. */
static size_t path_push(IdlCheck *ck, const char *format, ...) _printf_(2, 3);
static size_t path_push(IdlCheck *ck, const char *format, ...) {
        size_t len = strlen(ck->path);
        va_list ap;

        va_start(ap, format);
        vsnprintf(ck->path + len, sizeof(ck->path) - len, format, ap);
        va_end(ap);
        return len;
}

static int check_struct(IdlCheck *ck, const IdlType *t, json_object *v, unsigned depth) {
        int r;

        if (!json_object_is_type(v, json_type_object))
                return problem(ck, "expected an object, got %s %s",
                               json_object_is_type(v, json_type_array) ? "an" : "a",
                               varlink_json_type_name(v));
        for (size_t i = 0; i < t->n_fields; i++) {
                const IdlField *f = &t->fields[i];
                json_object *fv = NULL;
                size_t len;

                if (!json_object_object_get_ex(v, f->name, &fv) || json_object_is_type(fv, json_type_null)) {
                        if (f->type->nullable)
                                continue;
                        return problem(ck, "field '%s' is missing", f->name);
                }
                len = path_push(ck, "%s%s", ck->path[0] ? "." : "", f->name);
                r = check_value(ck, f->type, fv, depth + 1);
                ck->path[len] = 0;
                if (r < 0)
                        return r;
        }
        if (!(ck->flags & VARLINK_IDL_ALLOW_UNKNOWN)) {
                json_object_object_foreach(v, key, val) {
                        bool known = false;

                        (void) val;
                        for (size_t i = 0; i < t->n_fields && !known; i++)
                                known = strcmp(t->fields[i].name, key) == 0;
                        if (!known)
                                return problem(ck, "field '%s' is not declared", key);
                }
        }
        return 0;
}

static int check_value(IdlCheck *ck, const IdlType *t, json_object *v, unsigned depth) {
        int r;

        if (depth > VARLINK_JSON_DEPTH_MAX)
                return problem(ck, "nested too deeply");
        if (!v || json_object_is_type(v, json_type_null)) {
                if (t->nullable)
                        return 0;
                return problem(ck, "expected %s, got null", kind_name(t));
        }
        switch (t->kind) {
        case IDL_BOOL:
                if (!json_object_is_type(v, json_type_boolean))
                        goto wrong;
                return 0;
        case IDL_INT:
                if (!json_object_is_type(v, json_type_int))
                        goto wrong;
                return 0;
        case IDL_FLOAT:
                if (!json_object_is_type(v, json_type_int) && !json_object_is_type(v, json_type_double))
                        goto wrong;
                return 0;
        case IDL_STRING:
                if (!json_object_is_type(v, json_type_string))
                        goto wrong;
                return 0;
        case IDL_OBJECT:
                if (!json_object_is_type(v, json_type_object))
                        goto wrong;
                return 0;
        case IDL_ENUM:
                if (!json_object_is_type(v, json_type_string))
                        goto wrong;
                for (size_t i = 0; i < t->n_fields; i++)
                        if (strcmp(t->fields[i].name, json_object_get_string(v)) == 0)
                                return 0;
                return problem(ck, "'%.64s' is not one of the values allowed", json_object_get_string(v));
        case IDL_STRUCT:
                return check_struct(ck, t, v, depth);
        case IDL_NAMED: {
                const IdlMember *m = idl_find(ck->idl, IDL_MEMBER_TYPE, t->name);

                if (!m)
                        return problem(ck, "type %s is not declared", t->name);
                if (m->input->kind == IDL_STRUCT)
                        return check_struct(ck, m->input, v, depth + 1);
                return check_value(ck, m->input, v, depth + 1);
        }
        case IDL_ARRAY:
                if (!json_object_is_type(v, json_type_array))
                        goto wrong;
                for (size_t i = 0; i < json_object_array_length(v); i++) {
                        size_t len = path_push(ck, "[%zu]", i);

                        r = check_value(ck, t->element, json_object_array_get_idx(v, i), depth + 1);
                        ck->path[len] = 0;
                        if (r < 0)
                                return r;
                }
                return 0;
        case IDL_MAP:
                if (!json_object_is_type(v, json_type_object))
                        goto wrong;
                json_object_object_foreach(v, key, val) {
                        size_t len = path_push(ck, "[\"%s\"]", key);

                        r = check_value(ck, t->element, val, depth + 1);
                        ck->path[len] = 0;
                        if (r < 0)
                                return r;
                }
                return 0;
        }
wrong:
        return problem(ck, "expected %s, got %s %s", kind_name(t),
                       json_object_is_type(v, json_type_array) || json_object_is_type(v, json_type_object)
                               ? "an"
                               : "a",
                       varlink_json_type_name(v));
}

int varlink_idl_validate(const VarlinkIdl *idl, VarlinkIdlWhat what, const char *member,
                         json_object *parameters, unsigned flags, char **ret_problem) {
        IdlCheck ck = {.idl = idl, .flags = flags};
        const IdlMember *m;
        const char *dot;
        int r;

        /* Qualified names are fine when they are this interface's. */
        dot = strrchr(member, '.');
        if (dot) {
                if ((size_t) (dot - member) != strlen(idl->interface) ||
                    strncmp(member, idl->interface, (size_t) (dot - member)) != 0)
                        return -ENOENT;
                member = dot + 1;
        }
        m = idl_find(idl, what == VARLINK_IDL_ERROR ? IDL_MEMBER_ERROR : IDL_MEMBER_METHOD, member);
        if (!m)
                return -ENOENT;

        r = check_struct(&ck, what == VARLINK_IDL_METHOD_OUTPUT ? m->output : m->input, parameters, 0);
        if (r == -EBADMSG && ret_problem)
                *ret_problem = TAKE_PTR(ck.problem);
        free(ck.problem);
        return r;
}
