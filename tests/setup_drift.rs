// SPDX-License-Identifier: GPL-2.0-only
//! scripts/setup.sh must install every program the build, the tests, the
//! examples and the scripts start, so that a fresh machine runs them all.
//! This suite finds those programs by reading the sources (a list kept by
//! hand would drift just like setup.sh did), finds each one's Debian
//! package with `dpkg -S`, and fails unless setup.sh's PKGS names it or
//! every Debian system has it (Priority: required).
//!
//! What it reads:
//! - Rust: `Command::new("x")`, `clean_command("x", ..)` and the other
//!   helpers that take a program first; the look-ups (`require("x")`,
//!   `which("x")`, ...); and arrays whose first element is the program,
//!   passed to the helpers of a suite that start `args[0]` (found by
//!   following which functions hand their `&[&str]` on to which);
//! - shell: the command words of every script, through `env`, `timeout`,
//!   `xargs`, `ip netns exec`, `lkl-hijack.sh`, `stdpkt run -- CMD`, the
//!   script's variables and functions that run `"$@"`;
//! - Python: `subprocess.run(["x", ..])` and the like, and python3 itself.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::process::Command;

mod common;

use common::process::CLEAN_PATH;
use common::{tools, ROOT};

/// Started where no parser can see them, by the kernel build
/// (lkl-sys/build.rs runs make, and make runs these).
const UNSEEN: &[(&str, &str)] = &[
    ("rsync", "make headers_install (kernel build)"),
    (
        "xz",
        "tar -xf of linux-source-6.12's .tar.xz (kernel build)",
    ),
    ("gcc", "the kernel build's compiler"),
    ("as", "the kernel build's assembler"),
    ("ld", "the kernel build's linker"),
    ("flex", "the kernel build (kconfig lexers)"),
    ("bison", "the kernel build (kconfig parsers)"),
    ("bc", "the kernel build (kernel/timeconst.bc)"),
    ("perl", "the kernel build's scripts"),
    ("dpkg", "this test (dpkg -S)"),
    ("dpkg-query", "this test"),
];

/// Found by the parser, but setup.sh need not install them.
const EXEMPT: &[(&str, &str)] = &[
    // It cannot install sudo with sudo; as root it needs none.
    (
        "sudo",
        "scripts/setup.sh uses it only when not root, after checking for it",
    ),
    // The test that runs it expects the command to be missing.
    (
        "no-such-command-here",
        "tests/examples.rs: a command that must not exist",
    ),
];

// ------------------------------------------------------------ collection

/// Program -> the files that start it.
type Uses = BTreeMap<String, BTreeSet<String>>;

fn add(uses: &mut Uses, program: &str, file: &str) {
    uses.entry(program.to_string())
        .or_default()
        .insert(file.to_string());
}

/// Every source file under the tree that may start programs (not
/// target directories, not .git).
fn source_files() -> Vec<PathBuf> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        let Ok(rd) = std::fs::read_dir(dir) else {
            return;
        };
        for e in rd.flatten() {
            let p = e.path();
            let name = e.file_name().to_string_lossy().into_owned();
            if p.is_dir() {
                if name != ".git" && !name.starts_with("target") {
                    walk(&p, out);
                }
            } else {
                out.push(p);
            }
        }
    }
    let mut v = Vec::new();
    walk(Path::new(ROOT), &mut v);
    v.sort();
    v
}

fn is_shell(path: &Path, text: &str) -> bool {
    path.extension().is_some_and(|e| e == "sh")
        || (path.extension().is_none()
            && text
                .lines()
                .next()
                .is_some_and(|l| l.starts_with("#!") && l.contains("sh")))
}

/// Everything the tree starts, parsed from its sources.
fn collect() -> Uses {
    let mut uses = Uses::new();
    let files = source_files();
    let rel = |p: &Path| p.strip_prefix(ROOT).unwrap_or(p).display().to_string();
    // Helpers of tests/common are used by every suite.
    let mut shared = Spawners::new();
    for f in &files {
        if rel(f).starts_with("tests/common/") && f.extension().is_some_and(|e| e == "rs") {
            let text = std::fs::read_to_string(f).unwrap_or_default();
            shared.extend(spawners(&lex_rust(&text), &Spawners::new()));
        }
    }
    let mut scripts = Vec::new();
    for f in &files {
        let Ok(text) = std::fs::read_to_string(f) else {
            continue;
        };
        let name = rel(f);
        if name == "tests/setup_drift.rs" {
            // The parser's own examples are no programs; it runs dpkg
            // (listed in UNSEEN).
            continue;
        }
        if f.extension().is_some_and(|e| e == "rs") {
            for p in rust_programs(&text, &shared) {
                add(&mut uses, &p, &name);
            }
            for p in python_programs(&text) {
                add(&mut uses, &p, &name);
            }
        } else if f.extension().is_some_and(|e| e == "py") {
            add(&mut uses, "python3", &name);
            for p in python_programs(&text) {
                add(&mut uses, &p, &name);
            }
        } else if is_shell(f, &text) {
            scripts.push((f.clone(), name, text));
        }
    }
    for (path, name, text) in &scripts {
        for p in shell_programs(path, text) {
            add(&mut uses, &p, name);
        }
    }
    for (p, why) in UNSEEN {
        add(&mut uses, p, why);
    }
    uses
}

// ------------------------------------------------------------------ Rust

#[derive(Clone, Debug, PartialEq)]
enum Tok {
    Ident(String),
    Str(String),
    Punct(char),
    Other,
}

fn lex_rust(src: &str) -> Vec<Tok> {
    let s: Vec<char> = src.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    let at = |i: usize| s.get(i).copied().unwrap_or('\0');
    while i < s.len() {
        let c = s[i];
        if c.is_whitespace() {
            i += 1;
        } else if c == '/' && at(i + 1) == '/' {
            while i < s.len() && s[i] != '\n' {
                i += 1;
            }
        } else if c == '/' && at(i + 1) == '*' {
            let mut depth = 0;
            while i < s.len() {
                if s[i] == '/' && at(i + 1) == '*' {
                    depth += 1;
                    i += 2;
                } else if s[i] == '*' && at(i + 1) == '/' {
                    depth -= 1;
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    i += 1;
                }
            }
        } else if c == '"' || ((c == 'r' || c == 'b') && matches!(at(i + 1), '"' | '#' | 'r')) {
            // "..", b"..", r".." and r#".."#.
            let byte = c == 'b';
            let mut j = i;
            if s[j] == 'b' {
                j += 1;
            }
            let raw = at(j) == 'r';
            if raw {
                j += 1;
            }
            let mut hashes = 0;
            while at(j) == '#' {
                hashes += 1;
                j += 1;
            }
            if at(j) != '"' {
                // An identifier starting with r or b.
                let start = i;
                while i < s.len() && (s[i].is_alphanumeric() || s[i] == '_') {
                    i += 1;
                }
                out.push(Tok::Ident(s[start..i].iter().collect()));
                continue;
            }
            j += 1;
            let mut text = String::new();
            loop {
                let ch = at(j);
                if ch == '\0' {
                    break;
                }
                if ch == '"' && (0..hashes).all(|k| at(j + 1 + k) == '#') {
                    j += 1 + hashes;
                    break;
                }
                if ch == '\\' && !raw {
                    let n = at(j + 1);
                    match n {
                        'n' => text.push('\n'),
                        't' => text.push('\t'),
                        '\n' => {
                            j += 2;
                            while at(j).is_whitespace() {
                                j += 1;
                            }
                            continue;
                        }
                        other => text.push(other),
                    }
                    j += 2;
                    continue;
                }
                text.push(ch);
                j += 1;
            }
            i = j;
            out.push(if byte { Tok::Other } else { Tok::Str(text) });
        } else if c == '\'' {
            // A char literal, or a lifetime.
            if at(i + 1) == '\\' {
                i += 2;
                while i < s.len() && s[i] != '\'' {
                    i += 1;
                }
                i += 1;
            } else if at(i + 2) == '\'' {
                i += 3;
            } else {
                i += 1;
            }
            out.push(Tok::Other);
        } else if c.is_alphabetic() || c == '_' {
            let start = i;
            while i < s.len() && (s[i].is_alphanumeric() || s[i] == '_') {
                i += 1;
            }
            out.push(Tok::Ident(s[start..i].iter().collect()));
        } else if c.is_ascii_digit() {
            while i < s.len() && (s[i].is_alphanumeric() || s[i] == '_') {
                i += 1;
            }
            out.push(Tok::Other);
        } else {
            out.push(Tok::Punct(c));
            i += 1;
        }
    }
    out
}

fn is_ident(t: &[Tok], i: usize, name: &str) -> bool {
    matches!(t.get(i), Some(Tok::Ident(n)) if n == name)
}

fn is_punct(t: &[Tok], i: usize, c: char) -> bool {
    t.get(i) == Some(&Tok::Punct(c))
}

/// The index of the bracket closing the one at `open`.
fn closing(t: &[Tok], open: usize) -> usize {
    let mut depth = 0;
    for (i, tok) in t.iter().enumerate().skip(open) {
        match tok {
            Tok::Punct('(' | '[' | '{') => depth += 1,
            Tok::Punct(')' | ']' | '}') => {
                depth -= 1;
                if depth == 0 {
                    return i;
                }
            }
            _ => {}
        }
    }
    t.len()
}

/// The top-level comma-separated items between `open` and its closer.
fn items(t: &[Tok], open: usize) -> Vec<&[Tok]> {
    let close = closing(t, open);
    let mut v = Vec::new();
    let (mut depth, mut start) = (0, open + 1);
    for i in open + 1..close {
        match t[i] {
            Tok::Punct('(' | '[' | '{') => depth += 1,
            Tok::Punct(')' | ']' | '}') => depth -= 1,
            Tok::Punct(',') if depth == 0 => {
                v.push(&t[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    if start < close {
        v.push(&t[start..close]);
    }
    v
}

/// How a helper takes its program: first in an array, or after `--` in
/// one (`stdpkt run ... -- CMD`).
#[derive(Clone, Copy, Debug, PartialEq)]
enum Kind {
    First,
    AfterDashes,
}

/// Helper name -> (the argument holding the array, how).
type Spawners = HashMap<String, (usize, Kind)>;

/// A function or closure: name, parameter names with whether each is a
/// `&[&str]`, and its body (token range); `outer` is the enclosing
/// function's body, for closures.
struct Func {
    name: String,
    params: Vec<(String, bool)>,
    body: (usize, usize),
    outer: (usize, usize),
}

fn functions(t: &[Tok]) -> Vec<Func> {
    let mut v = Vec::new();
    // &[&str], perhaps with lifetimes.
    let is_slice = |ty: &[Tok]| {
        let shape: Vec<&Tok> = ty
            .iter()
            .filter(|x| matches!(x, Tok::Punct(_)) || **x == Tok::Ident("str".into()))
            .collect();
        shape
            == [
                &Tok::Punct('&'),
                &Tok::Punct('['),
                &Tok::Punct('&'),
                &Tok::Ident("str".into()),
                &Tok::Punct(']'),
            ]
    };
    let param = |item: &[Tok]| -> Option<(String, bool)> {
        let colon = item.iter().position(|x| *x == Tok::Punct(':'))?;
        let name = item[..colon].iter().rev().find_map(|x| match x {
            Tok::Ident(n) if n != "mut" => Some(n.clone()),
            _ => None,
        })?;
        Some((name, is_slice(&item[colon + 1..])))
    };
    let mut i = 0;
    while i < t.len() {
        if is_ident(t, i, "fn") {
            if let Some(Tok::Ident(name)) = t.get(i + 1) {
                let mut j = i + 2;
                while j < t.len() && !is_punct(t, j, '(') {
                    j += 1;
                }
                let params = items(t, j).into_iter().filter_map(param).collect();
                let mut k = closing(t, j);
                while k < t.len() && !is_punct(t, k, '{') && !is_punct(t, k, ';') {
                    k += 1;
                }
                if is_punct(t, k, '{') {
                    let end = closing(t, k);
                    v.push(Func {
                        name: name.clone(),
                        params,
                        body: (k, end),
                        outer: (k, end),
                    });
                }
            }
        }
        // let NAME = |PARAMS| BODY
        if is_ident(t, i, "let") && is_punct(t, i + 2, '=') && is_punct(t, i + 3, '|') {
            if let Some(Tok::Ident(name)) = t.get(i + 1) {
                let mut j = i + 4;
                while j < t.len() && !is_punct(t, j, '|') {
                    j += 1;
                }
                let mut params = Vec::new();
                for item in t[i + 4..j].split(|x| *x == Tok::Punct(',')) {
                    if let Some(p) = param(item) {
                        params.push(p);
                    }
                }
                let body = if is_punct(t, j + 1, '{') {
                    (j + 1, closing(t, j + 1))
                } else {
                    let mut e = j + 1;
                    while e < t.len() && !is_punct(t, e, ';') {
                        e += 1;
                    }
                    (j + 1, e)
                };
                let outer = v
                    .iter()
                    .rev()
                    .find(|f: &&Func| f.body.0 < i && i < f.body.1)
                    .map(|f| f.body)
                    .unwrap_or((0, t.len()));
                v.push(Func {
                    name: name.clone(),
                    params,
                    body,
                    outer,
                });
            }
        }
        i += 1;
    }
    v
}

/// The helpers of a file that start the program their `&[&str]`
/// argument names, given those already known (`known`): one that indexes
/// it (`args[0]`), one that hands it to scripts/lkl-hijack.sh, one that
/// runs `stdpkt run` with it, or one that passes it on to such a helper.
fn spawners(t: &[Tok], known: &Spawners) -> Spawners {
    let funcs = functions(t);
    let mut found = known.clone();
    loop {
        let before = found.len();
        for f in &funcs {
            let body = &t[f.body.0..f.body.1];
            let outer = &t[f.outer.0..f.outer.1];
            let hijack = |r: &[Tok]| {
                r.iter()
                    .any(|x| matches!(x, Tok::Str(s) if s.ends_with("lkl-hijack.sh")))
            };
            for (idx, (p, slice)) in f.params.iter().enumerate() {
                if !slice || found.contains_key(&f.name) {
                    continue;
                }
                let uses_p = |i: usize| is_ident(body, i, p);
                let mut kind = None;
                for i in 0..body.len() {
                    if uses_p(i)
                        && is_punct(body, i + 1, '[')
                        && matches!(body.get(i + 2), Some(Tok::Other))
                    {
                        kind = Some(Kind::First);
                    }
                    if is_punct(body, i, '.')
                        && is_ident(body, i + 1, "args")
                        && is_punct(body, i + 2, '(')
                        && uses_p(i + 3)
                        && body.iter().any(|x| *x == Tok::Str("run".into()))
                    {
                        kind = Some(Kind::AfterDashes);
                    }
                    // Passed on: G(.., P, ..) or G(.., &P, ..).
                    if let Some(Tok::Ident(g)) = body.get(i) {
                        if let Some(&(gi, gk)) = found.get(g) {
                            if is_punct(body, i + 1, '(') {
                                if let Some(arg) = items(body, i + 1).get(gi) {
                                    let bare: Vec<&Tok> =
                                        arg.iter().filter(|x| **x != Tok::Punct('&')).collect();
                                    if bare.len() == 1 && *bare[0] == Tok::Ident(p.clone()) {
                                        kind = Some(gk);
                                    }
                                }
                            }
                        }
                    }
                }
                if kind.is_none() && (hijack(body) || hijack(outer)) && (0..body.len()).any(uses_p)
                {
                    kind = Some(Kind::First);
                }
                if let Some(k) = kind {
                    found.insert(f.name.clone(), (idx, k));
                }
            }
        }
        if found.len() == before {
            return found;
        }
    }
}

/// What a name is bound to in a function body: string literals, or
/// arrays (their element token slices).
#[derive(Default)]
struct Bindings<'a> {
    strs: HashMap<String, Vec<String>>,
    arrays: HashMap<String, Vec<Vec<&'a [Tok]>>>,
}

/// The array literal at `i` (`[..]`, `&[..]`, `vec![..]`, `&vec![..]`):
/// its elements.
fn array_at(t: &[Tok], mut i: usize) -> Option<Vec<&[Tok]>> {
    if is_punct(t, i, '&') {
        i += 1;
    }
    if is_ident(t, i, "vec") && is_punct(t, i + 1, '!') {
        i += 2;
    }
    is_punct(t, i, '[').then(|| items(t, i))
}

fn bindings<'a>(t: &'a [Tok], range: (usize, usize), file: &'a [Tok]) -> Bindings<'a> {
    let mut b = Bindings::default();
    // File-level string constants.
    for i in 0..file.len() {
        if is_ident(file, i, "const") {
            if let (Some(Tok::Ident(n)), Some(eq)) = (
                file.get(i + 1),
                (i..file.len()).find(|&j| is_punct(file, j, '=')),
            ) {
                if let Some(Tok::Str(s)) = file.get(eq + 1) {
                    b.strs.entry(n.clone()).or_default().push(s.clone());
                }
            }
        }
    }
    for i in range.0..range.1 {
        // let [mut] NAME [: TYPE] = EXPR
        if is_ident(t, i, "let") {
            let mut j = i + 1;
            if is_ident(t, j, "mut") {
                j += 1;
            }
            let Some(Tok::Ident(n)) = t.get(j) else {
                continue;
            };
            let Some(eq) = (j..range.1).find(|&k| is_punct(t, k, '=') || is_punct(t, k, ';'))
            else {
                continue;
            };
            if !is_punct(t, eq, '=') {
                continue;
            }
            if let Some(Tok::Str(s)) = t.get(eq + 1) {
                b.strs.entry(n.clone()).or_default().push(s.clone());
            } else if let Some(a) = array_at(t, eq + 1) {
                b.arrays.entry(n.clone()).or_default().push(a);
            }
        }
        // for NAME in [..]
        if is_ident(t, i, "for") && is_ident(t, i + 2, "in") {
            let Some(Tok::Ident(n)) = t.get(i + 1) else {
                continue;
            };
            let Some(elems) = array_at(t, i + 3) else {
                continue;
            };
            for e in elems {
                match e {
                    [Tok::Str(s)] => b.strs.entry(n.clone()).or_default().push(s.clone()),
                    _ => {
                        if let Some(a) = array_at(e, 0) {
                            b.arrays.entry(n.clone()).or_default().push(a);
                        }
                    }
                }
            }
        }
    }
    b
}

/// The strings an array element can be.
fn elem_strings(e: &[Tok], b: &Bindings) -> Vec<String> {
    let e = if e.first() == Some(&Tok::Punct('&')) {
        &e[1..]
    } else {
        e
    };
    match e {
        [Tok::Str(s)] => vec![s.clone()],
        [Tok::Ident(n)] => b.strs.get(n).cloned().unwrap_or_default(),
        _ => Vec::new(),
    }
}

/// The arrays an argument can be.
fn arg_arrays<'a>(arg: &'a [Tok], b: &Bindings<'a>) -> Vec<Vec<&'a [Tok]>> {
    if let Some(a) = array_at(arg, 0) {
        return vec![a];
    }
    let names: Vec<&String> = arg
        .iter()
        .filter_map(|x| match x {
            Tok::Ident(n) => Some(n),
            _ => None,
        })
        .collect();
    match names[..] {
        [n] => b.arrays.get(n).cloned().unwrap_or_default(),
        _ => Vec::new(),
    }
}

/// Programs that run the rest of their arguments: how many of those
/// arguments belong to the wrapper itself. None: the next word that is
/// not an option or an assignment is the program.
fn wrapper_skip(name: &str, rest: &[String]) -> Option<usize> {
    let opt_with_value = |o: &str| -> bool {
        matches!(
            (name, o),
            ("env", "-u" | "-C" | "-S")
                | ("timeout", "-s" | "-k" | "--signal" | "--kill-after")
                | ("taskset", "-c" | "--cpu-list")
                | (
                    "xargs",
                    "-n" | "-I" | "-P" | "-d" | "-L" | "-s" | "-a" | "-E"
                )
                | ("nice", "-n")
                | ("sudo", "-u" | "-g")
                | ("runuser", "-u" | "-g" | "-G" | "-s" | "-c" | "-l")
        )
    };
    let mut i = 0;
    match name {
        "runuser" => {
            if let Some(dd) = rest.iter().position(|w| w == "--") {
                return Some(dd + 1);
            }
        }
        "ip" => {
            return (rest.len() >= 3 && rest[0] == "netns" && rest[1] == "exec").then_some(3);
        }
        "env" | "timeout" | "taskset" | "xargs" | "nice" | "nohup" | "sudo" | "stdbuf" => {}
        _ => return None,
    }
    while i < rest.len() && (rest[i].starts_with('-') || (name == "env" && rest[i].contains('='))) {
        if rest[i] == "--" {
            i += 1;
            break;
        }
        i += if opt_with_value(&rest[i]) { 2 } else { 1 };
    }
    // timeout's duration and taskset's mask (when not -c) come first.
    if name == "timeout"
        || (name == "taskset" && !rest.iter().any(|w| w == "-c" || w == "--cpu-list"))
    {
        i += 1;
    }
    Some(i)
}

/// The program of a command line given as words, and those it runs in
/// turn through wrappers (env, runuser, lkl-hijack.sh, stdpkt run).
fn through_wrappers(words: &[String]) -> Vec<String> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < words.len() {
        let w = &words[i];
        let base = w.rsplit('/').next().unwrap_or(w);
        if base == "lkl-hijack.sh" {
            i += 1;
            continue;
        }
        if base == "stdpkt" {
            match words[i..].iter().position(|x| x == "--") {
                Some(dd) if words.get(i + 1).is_some_and(|x| x == "run") => {
                    i += dd + 1;
                    continue;
                }
                _ => break,
            }
        }
        if !program_like(w) {
            break;
        }
        out.push(w.clone());
        match wrapper_skip(base, &words[i + 1..]) {
            Some(n) => i += 1 + n,
            None => break,
        }
    }
    out
}

/// Looks like a program name or an absolute path to one.
fn program_like(s: &str) -> bool {
    !s.is_empty()
        && !s.starts_with('-')
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "._+-/".contains(c))
        && (!s.contains('/') || s.starts_with('/'))
}

/// [`through_wrappers`], and what `sh -c CODE` runs.
fn array_programs(words: &[String]) -> Vec<String> {
    let mut v = through_wrappers(words);
    let shell = matches!(words.first().map(String::as_str), Some("sh" | "bash"));
    if shell && words.get(1).is_some_and(|w| w == "-c") {
        if let Some(code) = words.get(2) {
            v.extend(snippet_programs(code));
        }
    }
    v
}

fn rust_programs(src: &str, shared: &Spawners) -> Vec<String> {
    let t = lex_rust(src);
    let spawn = spawners(&t, shared);
    let funcs = functions(&t);
    let mut out = Vec::new();
    let in_func = |i: usize| {
        funcs
            .iter()
            .filter(|f| f.body.0 <= i && i < f.body.1 && f.body == f.outer)
            .map(|f| f.body)
            .next_back()
            .unwrap_or((0, t.len()))
    };
    // A program given by name, as a literal or a constant.
    const BY_NAME: &[&str] = &[
        "clean_command",
        "spawn_piped",
        "run_with_input",
        "which",
        "find_in",
        "have",
        "tool",
        "require",
        "resolve",
        "program",
    ];
    const LISTS: &[&str] = &["require_all", "tools"];
    let mut cache: HashMap<(usize, usize), Bindings> = HashMap::new();
    for i in 0..t.len() {
        let Some(Tok::Ident(name)) = t.get(i) else {
            continue;
        };
        if !is_punct(&t, i + 1, '(') || (i > 0 && is_ident(&t, i - 1, "fn")) {
            continue;
        }
        let range = in_func(i);
        let b: &Bindings = cache
            .entry(range)
            .or_insert_with(|| bindings(&t, range, &t));
        let args = items(&t, i + 1);
        let by_name = BY_NAME.contains(&name.as_str())
            || (name == "new"
                && i >= 3
                && is_ident(&t, i - 3, "Command")
                && is_punct(&t, i - 1, ':'));
        if by_name {
            if let Some(first) = args.first() {
                out.extend(elem_strings(first, b));
            }
        }
        if LISTS.contains(&name.as_str()) {
            if let Some(a) = args.first().and_then(|a| array_at(a, 0)) {
                for e in a {
                    out.extend(elem_strings(e, b));
                }
            }
        }
        if let Some(&(idx, kind)) = spawn.get(name) {
            if let Some(arg) = args.get(idx) {
                for arr in arg_arrays(arg, b) {
                    let words: Vec<String> = arr
                        .iter()
                        .map(|e| elem_strings(e, b).into_iter().next().unwrap_or_default())
                        .collect();
                    let from = match kind {
                        Kind::First => 0,
                        Kind::AfterDashes => match words.iter().position(|w| w == "--") {
                            Some(dd) => dd + 1,
                            None => continue,
                        },
                    };
                    // An element that is a loop variable: each of its values.
                    for first in elem_strings(arr.get(from).copied().unwrap_or(&[]), b) {
                        let mut w = words[from..].to_vec();
                        w[0] = first;
                        out.extend(array_programs(&w));
                    }
                }
            }
        }
    }
    // `.args(["run", .., "--", CMD, ..])` on stdpkt.
    for i in 0..t.len() {
        if is_punct(&t, i, '[') && matches!(t.get(i + 1), Some(Tok::Str(s)) if s == "run") {
            let b = Bindings::default();
            let words: Vec<String> = items(&t, i)
                .iter()
                .map(|e| elem_strings(e, &b).into_iter().next().unwrap_or_default())
                .collect();
            if let Some(dd) = words.iter().position(|w| w == "--") {
                out.extend(array_programs(&words[dd + 1..]));
            }
        }
    }
    out.retain(|p| program_like(p));
    out
}

// ---------------------------------------------------------------- Python

/// `subprocess.run(["x", ..])` and its relatives.
fn python_programs(src: &str) -> Vec<String> {
    let mut out = Vec::new();
    for call in ["run", "Popen", "call", "check_call", "check_output"] {
        let pat = format!("subprocess.{call}(");
        let mut rest = src;
        while let Some(at) = rest.find(&pat) {
            rest = &rest[at + pat.len()..];
            let arg = rest.trim_start();
            let Some(list) = arg.strip_prefix('[') else {
                continue;
            };
            let list = list.trim_start();
            if let Some(q) = list.chars().next().filter(|c| *c == '"' || *c == '\'') {
                if let Some(end) = list[1..].find(q) {
                    out.push(list[1..1 + end].to_string());
                }
            }
        }
    }
    out.retain(|p| program_like(p));
    out
}

// ----------------------------------------------------------------- shell

/// A word of a shell command: as written, and with its quotes removed;
/// the command substitutions in it; an array assignment's elements.
#[derive(Clone, Debug, Default)]
struct Word {
    raw: String,
    text: String,
    subs: Vec<Vec<ShTok>>,
    array: Option<Vec<String>>,
}

#[derive(Clone, Debug)]
enum ShTok {
    Word(Word),
    Op(&'static str),
    /// A redirection's target: its substitutions run, it is no argument.
    Target(Word),
}

struct ShLexer<'a> {
    s: &'a [char],
    i: usize,
    heredocs: Vec<(String, bool)>,
}

impl ShLexer<'_> {
    fn at(&self, k: usize) -> char {
        self.s.get(self.i + k).copied().unwrap_or('\0')
    }

    /// Tokens up to the end, or up to an unmatched `)` when `nested`.
    fn tokens(&mut self, nested: bool) -> Vec<ShTok> {
        let mut out = Vec::new();
        let mut depth = 0;
        while self.i < self.s.len() {
            let c = self.at(0);
            match c {
                ' ' | '\t' => self.i += 1,
                '\\' if self.at(1) == '\n' => self.i += 2,
                '\n' => {
                    self.i += 1;
                    out.push(ShTok::Op("\n"));
                    self.skip_heredocs();
                }
                '#' => {
                    while self.i < self.s.len() && self.at(0) != '\n' {
                        self.i += 1;
                    }
                }
                ')' if nested && depth == 0 => {
                    self.i += 1;
                    return out;
                }
                '(' if self.at(1) == '(' => {
                    // An arithmetic command: nothing runs.
                    self.skip_parens();
                    out.push(ShTok::Word(Word {
                        raw: "((".into(),
                        text: "((".into(),
                        ..Word::default()
                    }));
                }
                '(' => {
                    self.i += 1;
                    depth += 1;
                    out.push(ShTok::Op("("));
                }
                ')' => {
                    self.i += 1;
                    depth -= 1;
                    out.push(ShTok::Op(")"));
                }
                '|' | '&' | ';' => {
                    let two: String = [c, self.at(1)].iter().collect();
                    if two == "&>" {
                        self.i += 2;
                        if self.at(0) == '>' {
                            self.i += 1;
                        }
                        let w = self.word();
                        out.push(ShTok::Target(w));
                        continue;
                    }
                    let op = match two.as_str() {
                        "||" => "||",
                        "&&" => "&&",
                        ";;" => ";;",
                        "|&" => "|",
                        _ => "",
                    };
                    if op.is_empty() {
                        self.i += 1;
                        out.push(ShTok::Op(match c {
                            '|' => "|",
                            '&' => "&",
                            _ => ";",
                        }));
                    } else {
                        self.i += 2;
                        out.push(ShTok::Op(op));
                    }
                }
                '<' | '>' if self.at(1) == '(' => {
                    let w = self.word();
                    out.push(ShTok::Word(w));
                }
                '<' | '>' => self.redirection(&mut out),
                _ => {
                    let w = self.word();
                    // An fd number before a redirection.
                    if matches!(self.at(0), '<' | '>')
                        && !w.raw.is_empty()
                        && w.raw.chars().all(|c| c.is_ascii_digit())
                    {
                        continue;
                    }
                    out.push(ShTok::Word(w));
                }
            }
        }
        out
    }

    fn redirection(&mut self, out: &mut Vec<ShTok>) {
        let mut op = String::new();
        while matches!(self.at(0), '<' | '>') {
            op.push(self.at(0));
            self.i += 1;
        }
        if self.at(0) == '&' {
            // >&2, 2>&1, 9>&-: no target word.
            self.i += 1;
            while self.at(0).is_ascii_digit() || self.at(0) == '-' {
                self.i += 1;
            }
            return;
        }
        let strip_tabs = op == "<<" && self.at(0) == '-';
        if strip_tabs {
            self.i += 1;
        }
        while self.at(0) == ' ' || self.at(0) == '\t' {
            self.i += 1;
        }
        let w = self.word();
        if op == "<<" {
            self.heredocs.push((w.text.clone(), strip_tabs));
        }
        out.push(ShTok::Target(w));
    }

    fn skip_heredocs(&mut self) {
        for (delim, _) in std::mem::take(&mut self.heredocs) {
            while self.i < self.s.len() {
                let start = self.i;
                while self.i < self.s.len() && self.at(0) != '\n' {
                    self.i += 1;
                }
                let line: String = self.s[start..self.i].iter().collect();
                self.i += 1;
                if line.trim() == delim {
                    break;
                }
            }
        }
    }

    /// From `((` to its `))`.
    fn skip_parens(&mut self) {
        let mut depth = 0;
        while self.i < self.s.len() {
            match self.at(0) {
                '(' => depth += 1,
                ')' => {
                    depth -= 1;
                    if depth == 0 {
                        self.i += 1;
                        return;
                    }
                }
                _ => {}
            }
            self.i += 1;
        }
    }

    /// `$(..)`, `<(..)` or `>(..)` at the cursor (past its opener).
    fn substitution(&mut self, w: &mut Word) {
        let start = self.i;
        let toks = self.tokens(true);
        w.raw.extend(&self.s[start..self.i]);
        w.text.push_str("$(");
        w.subs.push(toks);
    }

    fn word(&mut self) -> Word {
        let mut w = Word::default();
        while self.i < self.s.len() {
            let c = self.at(0);
            if c.is_whitespace() || "|&;()".contains(c) {
                // NAME=( .. ): an array assignment.
                if c == '(' && w.raw.ends_with('=') && !w.raw.contains(['"', '\'', '$']) {
                    self.i += 1;
                    let start = self.i;
                    let toks = self.tokens(true);
                    w.raw.extend(&self.s[start - 1..self.i]);
                    let mut elems = Vec::new();
                    for t in toks {
                        if let ShTok::Word(e) = t {
                            elems.push(e.text.clone());
                            w.subs.extend(e.subs);
                        }
                    }
                    w.array = Some(elems);
                    continue;
                }
                break;
            }
            if (c == '<' || c == '>') && self.at(1) == '(' && w.raw.is_empty() {
                w.raw.push(c);
                self.i += 2;
                self.substitution(&mut w);
                continue;
            }
            if c == '<' || c == '>' {
                break;
            }
            match c {
                '\'' => {
                    w.raw.push(c);
                    self.i += 1;
                    while self.i < self.s.len() && self.at(0) != '\'' {
                        w.raw.push(self.at(0));
                        w.text.push(self.at(0));
                        self.i += 1;
                    }
                    w.raw.push('\'');
                    self.i += 1;
                }
                '"' => {
                    w.raw.push(c);
                    self.i += 1;
                    while self.i < self.s.len() && self.at(0) != '"' {
                        self.dollar_or_char(&mut w, true);
                    }
                    w.raw.push('"');
                    self.i += 1;
                }
                '\\' => {
                    w.raw.push(c);
                    w.raw.push(self.at(1));
                    w.text.push(self.at(1));
                    self.i += 2;
                }
                _ => self.dollar_or_char(&mut w, false),
            }
        }
        w
    }

    /// One character of a word, or a whole `$(..)`, `$((..))`, `${..}`.
    fn dollar_or_char(&mut self, w: &mut Word, quoted: bool) {
        let c = self.at(0);
        if c == '\\' && quoted {
            w.raw.push(c);
            w.raw.push(self.at(1));
            w.text.push(self.at(1));
            self.i += 2;
        } else if c == '$' && self.at(1) == '(' && self.at(2) == '(' {
            let start = self.i;
            self.i += 1;
            self.skip_parens();
            let s: String = self.s[start..self.i].iter().collect();
            w.raw.push_str(&s);
            w.text.push_str(&s);
        } else if c == '$' && self.at(1) == '(' {
            w.raw.push_str("$(");
            self.i += 2;
            self.substitution(w);
        } else if c == '$' && self.at(1) == '{' {
            let start = self.i;
            while self.i < self.s.len() && self.at(0) != '}' {
                self.i += 1;
            }
            self.i += 1;
            let s: String = self.s[start..self.i.min(self.s.len())].iter().collect();
            w.raw.push_str(&s);
            w.text.push_str(&s);
        } else if c == '`' {
            // Old-style substitution: read, not parsed.
            w.raw.push(c);
            w.text.push(c);
            self.i += 1;
        } else {
            w.raw.push(c);
            w.text.push(c);
            self.i += 1;
        }
    }
}

fn lex_shell(src: &str) -> Vec<ShTok> {
    let chars: Vec<char> = src.chars().collect();
    let mut l = ShLexer {
        s: &chars,
        i: 0,
        heredocs: Vec::new(),
    };
    l.tokens(false)
}

/// A simple command, and the function it is in.
#[derive(Debug)]
struct ShCmd {
    words: Vec<Word>,
    func: Option<String>,
}

#[derive(Default, Debug)]
struct Script {
    cmds: Vec<ShCmd>,
    funcs: BTreeSet<String>,
}

const KEYWORDS: &[&str] = &[
    "if", "then", "else", "elif", "fi", "do", "done", "while", "until", "!", "time", "((",
];

const BUILTINS: &[&str] = &[
    ".",
    ":",
    "[",
    "alias",
    "bg",
    "break",
    "builtin",
    "caller",
    "cd",
    "command",
    "compgen",
    "complete",
    "continue",
    "declare",
    "dirs",
    "disown",
    "echo",
    "enable",
    "eval",
    "exec",
    "exit",
    "export",
    "false",
    "fg",
    "getopts",
    "hash",
    "help",
    "jobs",
    "kill",
    "let",
    "local",
    "logout",
    "mapfile",
    "popd",
    "printf",
    "pushd",
    "pwd",
    "read",
    "readarray",
    "readonly",
    "return",
    "set",
    "shift",
    "shopt",
    "source",
    "test",
    "times",
    "trap",
    "true",
    "type",
    "typeset",
    "ulimit",
    "umask",
    "unalias",
    "unset",
    "wait",
];

fn assignment(w: &Word) -> Option<(String, Vec<String>)> {
    let eq = w.raw.find('=')?;
    let name = w.raw[..eq].trim_end_matches('+');
    let name = name.split('[').next().unwrap_or(name);
    let ok = !name.is_empty()
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        && !name.starts_with(|c: char| c.is_ascii_digit());
    if !ok {
        return None;
    }
    let values = match &w.array {
        Some(a) => a.clone(),
        None => {
            let teq = w.text.find('=').unwrap_or(0);
            w.text[teq + 1..]
                .split_whitespace()
                .map(String::from)
                .collect()
        }
    };
    Some((name.to_string(), values))
}

fn parse_shell(toks: &[ShTok], func: Option<String>, out: &mut Script) {
    let mut words: Vec<Word> = Vec::new();
    // Functions whose bodies are open: (name, brace depth of the body).
    let mut fstack: Vec<(String, i32)> = Vec::new();
    let mut pending_fn: Option<String> = None;
    let mut braces = 0;
    let mut case_patterns = 0; // >0: reading a case's patterns
    let mut skip_to: Option<&str> = None;
    let current = |fstack: &Vec<(String, i32)>| fstack.last().map(|f| f.0.clone()).or(func.clone());
    let finish = |words: &mut Vec<Word>, out: &mut Script, f: Option<String>| {
        if !words.is_empty() {
            out.cmds.push(ShCmd {
                words: std::mem::take(words),
                func: f,
            });
        }
    };
    let mut i = 0;
    while i < toks.len() {
        let tok = &toks[i];
        i += 1;
        let sub_func = current(&fstack);
        if let ShTok::Word(w) | ShTok::Target(w) = tok {
            for s in &w.subs {
                parse_shell(s, sub_func.clone(), out);
            }
        }
        if let Some(end) = skip_to {
            match tok {
                ShTok::Word(w) if w.text == end => skip_to = None,
                ShTok::Op(";" | "\n") if end == ";" => skip_to = None,
                _ => {}
            }
            continue;
        }
        if case_patterns > 0 {
            match tok {
                ShTok::Word(w) if w.text == "esac" && words.is_empty() => case_patterns -= 1,
                ShTok::Op(")") => case_patterns = -case_patterns,
                _ => {}
            }
            continue;
        }
        match tok {
            ShTok::Target(_) => {}
            ShTok::Op(op) => {
                finish(&mut words, out, current(&fstack));
                if *op == ";;" && case_patterns < 0 {
                    case_patterns = -case_patterns;
                }
            }
            ShTok::Word(w) if words.is_empty() => {
                let t = w.text.as_str();
                if w.raw == "esac" && case_patterns < 0 {
                    case_patterns = 0;
                } else if w.raw == "{" {
                    braces += 1;
                    if let Some(f) = pending_fn.take() {
                        fstack.push((f, braces));
                    }
                } else if w.raw == "}" {
                    if fstack.last().is_some_and(|f| f.1 == braces) {
                        fstack.pop();
                    }
                    braces -= 1;
                } else if KEYWORDS.contains(&t) {
                } else if t == "for" || t == "select" {
                    skip_to = Some(";");
                } else if t == "[[" {
                    skip_to = Some("]]");
                } else if t == "case" {
                    skip_to = Some("in");
                    case_patterns = 1;
                } else if t == "function" {
                    if let Some(ShTok::Word(n)) = toks.get(i) {
                        out.funcs.insert(n.text.clone());
                        pending_fn = Some(n.text.clone());
                        i += 1;
                    }
                } else if matches!(toks.get(i), Some(ShTok::Op("(")))
                    && matches!(toks.get(i + 1), Some(ShTok::Op(")")))
                {
                    out.funcs.insert(t.to_string());
                    pending_fn = Some(t.to_string());
                    i += 2;
                } else {
                    words.push(w.clone());
                }
            }
            ShTok::Word(w) => words.push(w.clone()),
        }
    }
    finish(&mut words, out, current(&fstack));
}

/// What a script knows when it runs a command: its functions (and which
/// of them run their arguments, "$@"), its variables, and those of the
/// scripts it sources.
#[derive(Default)]
struct Context {
    funcs: BTreeSet<String>,
    runs_args: BTreeSet<String>,
    vars: HashMap<String, Vec<Vec<String>>>,
}

fn script_context(path: &Path, seen: &mut BTreeSet<PathBuf>) -> (Script, Context) {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let mut script = Script::default();
    parse_shell(&lex_shell(&text), None, &mut script);
    let mut ctx = Context::default();
    ctx.funcs.extend(script.funcs.iter().cloned());
    seen.insert(path.to_path_buf());
    for c in &script.cmds {
        let w0 = c.words[0].text.as_str();
        // . FILE / source FILE: the file beside this script.
        if (w0 == "." || w0 == "source") && c.words.len() > 1 {
            let name = c.words[1].text.rsplit('/').next().unwrap_or("");
            let sourced = path.with_file_name(name);
            if sourced.is_file() && !seen.contains(&sourced) {
                let (s, sctx) = script_context(&sourced, seen);
                ctx.funcs.extend(s.funcs);
                for (k, v) in sctx.vars {
                    ctx.vars.entry(k).or_default().extend(v);
                }
            }
        }
        let args_assign = matches!(w0, "local" | "declare" | "export" | "readonly" | "typeset");
        for (n, w) in c.words.iter().enumerate() {
            match assignment(w) {
                Some((k, v))
                    if n == 0
                        || args_assign
                        || c.words[..n].iter().all(|x| assignment(x).is_some()) =>
                {
                    ctx.vars.entry(k).or_default().push(v);
                }
                _ => {
                    if !args_assign {
                        break;
                    }
                }
            }
        }
    }
    (script, ctx)
}

/// The programs one command runs; `runs_args` is set when it runs "$@".
fn command_programs(
    words: &[String],
    ctx: &Context,
    depth: usize,
    runs_args: &mut bool,
    out: &mut Vec<String>,
) {
    if depth > 8 {
        return;
    }
    // After a wrapper (exec, env, lkl-hijack.sh, ..) the next word is a
    // program even if a builtin or function has its name.
    let mut external = false;
    let mut i = 0;
    while i < words.len() {
        let w = words[i].as_str();
        if w.is_empty() {
            i += 1;
            continue;
        }
        let is_assign = w.find('=').is_some_and(|eq| {
            let n = w[..eq].trim_end_matches('+');
            let n = n.split('[').next().unwrap_or(n);
            !n.is_empty() && n.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        });
        if is_assign {
            i += 1;
            continue;
        }
        if w == "$@" || w == "${@}" || w == "$*" {
            *runs_args = true;
            return;
        }
        if w.starts_with('$') {
            let name: String = w
                .trim_start_matches('$')
                .trim_start_matches('{')
                .trim_end_matches('}')
                .trim_end_matches("[@]")
                .to_string();
            if let Some(values) = ctx.vars.get(&name) {
                for v in values {
                    let mut next = v.clone();
                    next.extend_from_slice(&words[i + 1..]);
                    command_programs(&next, ctx, depth + 1, runs_args, out);
                }
                return;
            }
        }
        if w.contains('$') || w.contains('`') {
            // Only the wrappers are known through an unknown variable.
            let base = w.rsplit('/').next().unwrap_or(w);
            if base == "lkl-hijack.sh" {
                i += 1;
                external = true;
                continue;
            }
            if base == "stdpkt" && words.get(i + 1).is_some_and(|x| x == "run") {
                if let Some(dd) = words[i..].iter().position(|x| x == "--") {
                    i += dd + 1;
                    external = true;
                    continue;
                }
            }
            return;
        }
        if w == "exec" && !external {
            i += 1;
            external = true;
            continue;
        }
        if w == "time" && !external {
            i += 1;
            continue;
        }
        if w == "command" && !external {
            if words.get(i + 1).is_some_and(|x| x.starts_with('-')) {
                return;
            }
            i += 1;
            continue;
        }
        if w == "trap" && !external {
            if let Some(code) = words.get(i + 1) {
                code_programs(code, ctx, depth + 1, out);
            }
            return;
        }
        if BUILTINS.contains(&w) && !external {
            return;
        }
        if ctx.funcs.contains(w) && !external {
            if ctx.runs_args.contains(w) {
                i += 1;
                continue;
            }
            return;
        }
        if w.contains('/') && !w.starts_with('/') {
            // A path in this tree (scripts/setup.sh): perhaps a wrapper.
            let base = w.rsplit('/').next().unwrap_or(w);
            if base == "lkl-hijack.sh" {
                i += 1;
                external = true;
                continue;
            }
            return;
        }
        if w == "stdpkt" && words.get(i + 1).is_some_and(|x| x == "run") {
            match words[i..].iter().position(|x| x == "--") {
                Some(dd) => {
                    i += dd + 1;
                    external = true;
                    continue;
                }
                None => return,
            }
        }
        if !program_like(w) {
            return;
        }
        out.push(w.to_string());
        let base = w.rsplit('/').next().unwrap_or(w);
        // sh -c CODE: what CODE runs (a router configured by a script).
        if matches!(base, "sh" | "bash") && words.get(i + 1).is_some_and(|x| x == "-c") {
            if let Some(code) = words.get(i + 2) {
                code_programs(code, ctx, depth + 1, out);
            }
            return;
        }
        match wrapper_skip(base, &words[i + 1..]) {
            Some(n) => {
                i += 1 + n;
                external = true;
            }
            None => return,
        }
    }
}

/// What shell code given as one word runs (trap code, `sh -c CODE`).
fn code_programs(code: &str, ctx: &Context, depth: usize, out: &mut Vec<String>) {
    let mut s = Script::default();
    parse_shell(&lex_shell(code), None, &mut s);
    for c in &s.cmds {
        let ws: Vec<String> = c.words.iter().map(|x| x.text.clone()).collect();
        command_programs(&ws, ctx, depth, &mut false, out);
    }
}

/// What a piece of shell code given as a string runs.
fn snippet_programs(code: &str) -> Vec<String> {
    let mut out = Vec::new();
    code_programs(code, &Context::default(), 0, &mut out);
    out
}

fn shell_programs(path: &Path, text: &str) -> Vec<String> {
    let mut out = Vec::new();
    // The interpreter: #!/usr/bin/env bash runs env, then bash.
    if let Some(line) = text.lines().next().and_then(|l| l.strip_prefix("#!")) {
        let words: Vec<String> = line.split_whitespace().map(String::from).collect();
        out.extend(through_wrappers(&words));
    }
    let (script, mut ctx) = script_context(path, &mut BTreeSet::new());
    let words = |c: &ShCmd| -> Vec<String> { c.words.iter().map(|w| w.text.clone()).collect() };
    // Which functions run "$@" may depend on others that do: until stable.
    loop {
        let before = ctx.runs_args.len();
        for c in &script.cmds {
            let mut runs = false;
            command_programs(&words(c), &ctx, 0, &mut runs, &mut Vec::new());
            if let (true, Some(f)) = (runs, &c.func) {
                ctx.runs_args.insert(f.clone());
            }
        }
        if ctx.runs_args.len() == before {
            break;
        }
    }
    for c in &script.cmds {
        command_programs(&words(c), &ctx, 0, &mut false, &mut out);
    }
    out.retain(|p| program_like(p));
    out
}

// ----------------------------------------------------------- the checks

/// scripts/setup.sh's PKGS=( ... ), comments left out.
fn setup_packages() -> BTreeSet<String> {
    let text =
        std::fs::read_to_string(format!("{ROOT}/scripts/setup.sh")).expect("scripts/setup.sh");
    let start = text.find("PKGS=(").expect("PKGS=( in scripts/setup.sh") + "PKGS=(".len();
    let mut pkgs = BTreeSet::new();
    for line in text[start..].lines() {
        let code = line.split('#').next().unwrap_or("");
        let (code, last) = match code.find(')') {
            Some(end) => (&code[..end], true),
            None => (code, false),
        };
        pkgs.extend(code.split_whitespace().map(String::from));
        if last {
            break;
        }
    }
    pkgs
}

/// What dpkg knows of a package.
struct Pkg {
    installed: bool,
    required: bool,
    depends: BTreeSet<String>,
}

fn dpkg_packages(names: &BTreeSet<String>) -> HashMap<String, Pkg> {
    let out = Command::new("dpkg-query")
        .arg("-W")
        .arg("-f=${Package}\t${db:Status-Abbrev}\t${Priority}\t${Depends}, ${Pre-Depends}\n")
        .args(names)
        .output()
        .expect("run dpkg-query (this test needs a Debian system)");
    let mut m = HashMap::new();
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let f: Vec<&str> = line.split('\t').collect();
        if f.len() < 4 {
            continue;
        }
        let depends = f[3]
            .split([',', '|'])
            .filter_map(|d| d.split_whitespace().next())
            .map(|d| d.split(':').next().unwrap_or(d).to_string())
            .filter(|d| !d.is_empty())
            .collect();
        m.insert(
            f[0].to_string(),
            Pkg {
                installed: f[1].starts_with("ii"),
                required: f[2] == "required",
                depends,
            },
        );
    }
    m
}

/// The packages owning each of `paths` (`dpkg -S`, one run).
fn dpkg_owners(paths: &BTreeSet<String>) -> HashMap<String, Vec<String>> {
    let mut m: HashMap<String, Vec<String>> = HashMap::new();
    if paths.is_empty() {
        return m;
    }
    let out = Command::new("dpkg")
        .arg("-S")
        .args(paths)
        .output()
        .expect("run dpkg -S");
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        if line.starts_with("diversion ") {
            continue;
        }
        if let Some((pkgs, path)) = line.split_once(": ") {
            for p in pkgs.split(", ") {
                let p = p.split(':').next().unwrap_or(p).trim();
                m.entry(path.trim().to_string())
                    .or_default()
                    .push(p.to_string());
            }
        }
    }
    m
}

fn home_dir(var: &str, default: &str) -> PathBuf {
    std::env::var_os(var).map(PathBuf::from).unwrap_or_else(|| {
        PathBuf::from(std::env::var_os("HOME").unwrap_or_default()).join(default)
    })
}

/// Where a program is found: the clean PATH the tests use first, then
/// this process's, then cargo's bin directory; every match, in order.
fn locate(program: &str) -> Vec<PathBuf> {
    if program.starts_with('/') {
        return Path::new(program)
            .exists()
            .then(|| PathBuf::from(program))
            .into_iter()
            .collect();
    }
    let mut dirs: Vec<PathBuf> = std::env::split_paths(CLEAN_PATH).collect();
    dirs.extend(std::env::split_paths(
        &std::env::var_os("PATH").unwrap_or_default(),
    ));
    dirs.push(home_dir("CARGO_HOME", ".cargo").join("bin"));
    let mut found: Vec<PathBuf> = Vec::new();
    for p in dirs.into_iter().map(|d| d.join(program)) {
        if p.is_file() && !found.contains(&p) {
            found.push(p);
        }
    }
    found
}

/// `path`, then each link it leads through, to the file itself; each
/// with its usrmerge twin (/bin/x is /usr/bin/x), since dpkg knows a file
/// by the name its package ships it under.
fn link_chain(path: &Path) -> Vec<String> {
    let mut chain = Vec::new();
    let mut p = path.to_path_buf();
    for _ in 0..16 {
        chain.push(p.clone());
        // The directory may be a link itself (/bin -> usr/bin).
        if let Some(dir) = p.parent().and_then(|d| std::fs::canonicalize(d).ok()) {
            chain.push(dir.join(p.file_name().unwrap_or_default()));
        }
        match std::fs::read_link(&p) {
            Ok(next) => p = p.parent().unwrap_or(Path::new("/")).join(next),
            Err(_) => break,
        }
    }
    if let Ok(real) = std::fs::canonicalize(path) {
        chain.push(real);
    }
    let mut out: Vec<String> = Vec::new();
    for p in chain {
        let s = p.display().to_string();
        let twin = match s.strip_prefix("/usr") {
            Some(rest) if rest.starts_with("/bin/") || rest.starts_with("/sbin/") => {
                rest.to_string()
            }
            _ if s.starts_with("/bin/") || s.starts_with("/sbin/") => format!("/usr{s}"),
            _ => String::new(),
        };
        for c in [s, twin] {
            if !c.is_empty() && !out.contains(&c) {
                out.push(c);
            }
        }
    }
    out
}

/// Where a program comes from.
#[derive(Debug)]
enum Origin {
    /// This tree, or the Rust toolchain (rustup): nothing to install.
    Ours,
    Missing,
    /// A file no package owns.
    Unowned(PathBuf),
    /// The packages owning the files on its link chain, the first first.
    Owned(PathBuf, Vec<String>),
}

fn origins(programs: &BTreeSet<String>) -> BTreeMap<String, Origin> {
    let toolchain = [
        home_dir("CARGO_HOME", ".cargo"),
        home_dir("RUSTUP_HOME", ".rustup"),
    ];
    let mut located = BTreeMap::new();
    let mut paths = BTreeSet::new();
    for p in programs {
        let found = locate(p);
        for f in &found {
            paths.extend(link_chain(f));
        }
        located.insert(p.clone(), found);
    }
    let owners = dpkg_owners(&paths);
    let owned = |f: &Path| -> Vec<String> {
        let mut pk: Vec<String> = Vec::new();
        for c in link_chain(f) {
            for o in owners.get(&c).into_iter().flatten() {
                if !pk.contains(o) {
                    pk.push(o.clone());
                }
            }
        }
        pk
    };
    let ours = |f: &Path| {
        let real = std::fs::canonicalize(f).unwrap_or(f.to_path_buf());
        real.starts_with(ROOT)
            || toolchain
                .iter()
                .any(|t| real.starts_with(t) || f.starts_with(t))
    };
    let mut m = BTreeMap::new();
    for (p, found) in located {
        // A copy of one's own in /usr/local hides the packaged one here,
        // but a fresh machine has only the packaged one.
        let packaged = found.iter().find_map(|f| {
            let pk = owned(f);
            (!pk.is_empty()).then(|| Origin::Owned(f.clone(), pk))
        });
        let origin = match (packaged, found.first()) {
            (Some(o), _) => o,
            (None, None) => Origin::Missing,
            (None, Some(_)) if found.iter().any(|f| ours(f)) => Origin::Ours,
            (None, Some(f)) => Origin::Unowned(f.clone()),
        };
        m.insert(p, origin);
    }
    m
}

/// Whether setup.sh installs one of `owners`: it lists it, or a package
/// it lists depends on it directly (python3 -> python3-minimal, which
/// owns /usr/bin/python3), or every Debian system has it.
fn installed_by_setup(
    owners: &[String],
    listed: &BTreeSet<String>,
    db: &HashMap<String, Pkg>,
) -> bool {
    owners.iter().any(|o| {
        listed.contains(o)
            || db.get(o).is_some_and(|p| p.required)
            || listed
                .iter()
                .any(|l| db.get(l).is_some_and(|p| p.depends.contains(o)))
    })
}

fn files_of(uses: &Uses, p: &str) -> String {
    uses.get(p)
        .map(|f| f.iter().cloned().collect::<Vec<_>>().join(", "))
        .unwrap_or_default()
}

/// Every package named anywhere below, for one dpkg-query run.
fn package_db(
    listed: &BTreeSet<String>,
    origins: &BTreeMap<String, Origin>,
) -> HashMap<String, Pkg> {
    let mut names = listed.clone();
    for o in origins.values() {
        if let Origin::Owned(_, pk) = o {
            names.extend(pk.iter().cloned());
        }
    }
    names.extend(tools::PACKAGES.iter().map(|(_, k)| k.to_string()));
    dpkg_packages(&names)
}

#[test]
fn setup_installs_every_program_the_tree_starts() {
    let uses = collect();
    let listed = setup_packages();
    let programs: BTreeSet<String> = uses
        .keys()
        .filter(|p| !EXEMPT.iter().any(|(e, _)| e == p))
        .cloned()
        .collect();
    let origins = origins(&programs);
    let db = package_db(&listed, &origins);
    let mut failures = Vec::new();
    let mut summary = String::new();
    for (p, origin) in &origins {
        let by = files_of(&uses, p);
        let from = match origin {
            Origin::Owned(_, pk) => pk[0].clone(),
            other => format!("{other:?}"),
        };
        summary.push_str(&format!("{p:<24} {from:<20} {by}\n"));
        match origin {
            Origin::Ours => {}
            Origin::Missing => failures.push(match tools::package_of(p) {
                Some(pkg) => {
                    format!("{by} start `{p}`, which is not installed: Debian package `{pkg}`")
                }
                None => format!(
                    "{by} start `{p}`, which is not installed (which Debian package has it?)"
                ),
            }),
            Origin::Unowned(f) => failures.push(format!(
                "{by} start `{p}` ({}), which belongs to no Debian package",
                f.display()
            )),
            Origin::Owned(f, pk) => {
                if !installed_by_setup(pk, &listed, &db) {
                    failures.push(format!(
                        "{by} start `{p}` ({}), from Debian package `{}`, which scripts/setup.sh \
                         does not install",
                        f.display(),
                        pk[0]
                    ));
                }
            }
        }
    }
    // With --nocapture: what was found, for a look at the parser's work.
    eprintln!("{summary}");
    assert!(
        failures.is_empty(),
        "add to PKGS in scripts/setup.sh:\n{}",
        failures.join("\n")
    );
}

#[test]
fn every_package_setup_lists_is_installed() {
    let listed = setup_packages();
    let db = dpkg_packages(&listed);
    let missing: Vec<&String> = listed
        .iter()
        .filter(|p| !db.get(*p).is_some_and(|k| k.installed))
        .collect();
    assert!(
        missing.is_empty(),
        "scripts/setup.sh lists packages that are not installed (run it): {missing:?}"
    );
}

/// tests/common/tools.rs names, for a missing program, the right package:
/// one that owns it, or a dependency of it that does.
#[test]
fn the_tools_table_names_the_right_packages() {
    let programs: BTreeSet<String> = tools::PACKAGES.iter().map(|(p, _)| p.to_string()).collect();
    let origins = origins(&programs);
    let listed = setup_packages();
    let db = package_db(&listed, &origins);
    let mut wrong = Vec::new();
    for (p, pkg) in tools::PACKAGES {
        match &origins[*p] {
            Origin::Owned(_, owners) => {
                let deps = db.get(*pkg).map(|k| &k.depends);
                let right = owners
                    .iter()
                    .any(|o| o == pkg || deps.is_some_and(|d| d.contains(o)));
                if !right {
                    wrong.push(format!("`{p}`: the table says {pkg}, dpkg says {owners:?}"));
                }
                if !installed_by_setup(&[pkg.to_string()], &listed, &db) {
                    wrong.push(format!("`{p}`: {pkg} is not installed by scripts/setup.sh"));
                }
            }
            other => wrong.push(format!("`{p}`: {other:?}")),
        }
    }
    assert!(
        wrong.is_empty(),
        "tests/common/tools.rs PACKAGES:\n{}",
        wrong.join("\n")
    );
}

/// Whatever a Rust test starts has its package in the table, so that a
/// missing one fails with a message that names it.
#[test]
fn the_tools_table_covers_what_the_tests_start() {
    let uses = collect();
    let mut absent = Vec::new();
    for (p, files) in &uses {
        let from_tests = files
            .iter()
            .any(|f| f.starts_with("tests/") && f.ends_with(".rs"));
        if from_tests && !EXEMPT.iter().any(|(e, _)| e == p) && tools::package_of(p).is_none() {
            let origin = origins(&BTreeSet::from([p.clone()]));
            if !matches!(origin.get(p), Some(Origin::Ours)) {
                absent.push(format!("`{p}` ({})", files_of(&uses, p)));
            }
        }
    }
    assert!(
        absent.is_empty(),
        "add these to PACKAGES in tests/common/tools.rs: {}",
        absent.join(", ")
    );
}

// ------------------------------------------------- the parser's self-check

fn found_in(uses: &Uses, program: &str, file: &str) -> bool {
    uses.get(program).is_some_and(|f| f.contains(file))
}

/// The parser finds programs known to be started, each in the file and
/// the shape that starts it.
#[test]
fn the_parser_finds_known_programs() {
    let uses = collect();
    for (program, file) in [
        // Rust: run(&["ping", ..]) through run_env and run_full.
        ("ping", "tests/preload.rs"),
        ("iptables-legacy", "tests/preload.rs"),
        ("iptables-legacy-save", "tests/preload.rs"),
        ("nm", "tests/preload.rs"),
        ("runuser", "tests/preload.rs"),
        ("/usr/bin/python3", "tests/preload.rs"),
        // Rust: preloaded(.., &["netperf", ..]) and on_host(&[..]).
        ("netperf", "tests/e2e.rs"),
        ("netserver", "tests/e2e.rs"),
        ("nft", "tests/e2e.rs"),
        ("iptables-nft-save", "tests/e2e.rs"),
        ("sha256sum", "tests/e2e.rs"),
        ("socat", "tests/e2e.rs"),
        ("sleep", "tests/e2e.rs"),
        // a loop variable: for restore in [..] { preloaded(.., &[restore, ..]) }
        ("iptables-legacy-restore", "tests/e2e.rs"),
        // Rust: Command::new("x") and the look-ups.
        ("tcpdump", "tests/nic.rs"),
        ("text2pcap", "tests/wire_cli.rs"),
        ("bash", "tests/examples.rs"),
        ("make", "lkl-sys/build.rs"),
        ("objcopy", "lkl-sys/build.rs"),
        // stdpkt run -- CMD, in Rust.
        ("ip", "tests/examples.rs"),
        // Python: subprocess.run(["ip", ..]).
        ("ip", "tests/preload/vfork.py"),
        ("python3", "tests/preload/vfork.py"),
        // Shell: through "$HIJACK", "${RUN[@]} .. --" and a function
        // that runs "$@".
        ("netperf", "examples/port-mirror.sh"),
        ("text2pcap", "examples/port-mirror.sh"),
        ("tcpdump", "examples/port-mirror-pcap.sh"),
        ("traceroute", "examples/chain.sh"),
        ("iptables", "examples/nat.sh"),
        ("grep", "examples/ping-through-grep.sh"),
        // Shell: $PIN "taskset -c 0", xargs kill, ip netns exec.
        ("taskset", "scripts/bench.sh"),
        ("kill", "scripts/bench.sh"),
        ("netserver", "scripts/bench.sh"),
        ("python3", "scripts/bench.sh"),
        ("cargo", "scripts/lkl-hijack.sh"),
        ("getcap", "tests/preload.rs"),
        ("dpkg-query", "scripts/setup.sh"),
        ("apt-get", "scripts/setup.sh"),
        ("env", "scripts/setup.sh"),
        ("sudo", "scripts/setup.sh"),
        ("rustup", "scripts/setup.sh"),
        ("cargo", "scripts/test.sh"),
        ("shellcheck", "scripts/test.sh"),
        // The kernel build's, from the explicit list.
        ("rsync", "make headers_install (kernel build)"),
    ] {
        assert!(
            found_in(&uses, program, file),
            "the parser did not find `{program}` in {file}; it found: {:?}",
            uses.iter()
                .filter(|(_, f)| f.contains(file))
                .map(|(p, _)| p)
                .collect::<Vec<_>>()
        );
    }
    // Builtins, functions, variables and keywords are no programs.
    for not in [
        "echo",
        "local",
        "await",
        "chain",
        "lingering",
        "then",
        "esac",
        "$HIJACK",
        "kill -TERM",
    ] {
        assert!(
            !uses.keys().any(|p| p == not),
            "`{not}` taken for a program: {:?}",
            uses.get(not)
        );
    }
}

fn shell_snippet(src: &str) -> Vec<String> {
    let dir = std::env::temp_dir().join(format!("stdpkt-drift-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(format!("s{}.sh", src.len()));
    std::fs::write(&path, src).unwrap();
    let v = shell_programs(&path, src);
    let _ = std::fs::remove_file(&path);
    v
}

#[test]
fn the_shell_parser_handles_the_shapes_scripts_use() {
    let got = shell_snippet(
        "#!/bin/sh\n\
         # a comment: notacommand here\n\
         A=1 B=\"x y\" first --flag | second 2>/dev/null && third || fourth; fifth &\n\
         x=$(sixth \"$(seventh)\") y=$((1 + 2))\n\
         if eighth; then ninth; elif [ -e f ]; then :; else tenth; fi\n\
         for i in $(seq 3); do eleventh \"$i\"; done\n\
         while read -r l; do twelfth; done < <(thirteenth)\n\
         case \"$1\" in -h|--help) fourteenth ;; *) fifteenth ;; esac\n\
         f() { \"$@\" || true; }\n\
         f sixteenth --arg\n\
         g() { local v; v=1; }\n\
         g seventeenth\n\
         cat <<'EOF'\nnotacommand either\nEOF\n\
         env X=1 timeout 5 eighteenth\n\
         W=\"nineteenth -x\"\n\
         $W arg\n\
         trap 'twentieth; rm -f x' EXIT\n\
         exec 9>&- twentyfirst\n\
         { twentysecond; } | tee log\n\
         arr=(\"$(twentythird)\")\n",
    );
    let want = [
        "/bin/sh",
        "first",
        "second",
        "third",
        "fourth",
        "fifth",
        "sixth",
        "seventh",
        "eighth",
        "ninth",
        "tenth",
        "seq",
        "eleventh",
        "twelfth",
        "thirteenth",
        "fourteenth",
        "fifteenth",
        "sixteenth",
        "cat",
        "env",
        "timeout",
        "eighteenth",
        "nineteenth",
        "twentieth",
        "rm",
        "twentyfirst",
        "twentysecond",
        "tee",
        "twentythird",
    ];
    let set: BTreeSet<&str> = got.iter().map(String::as_str).collect();
    for w in want {
        assert!(set.contains(w), "`{w}` not found in {set:?}");
    }
    for not in [
        "notacommand",
        "seventeenth",
        "g",
        "f",
        "read",
        "A=1",
        "-h",
        "--help",
        "$W",
        "EOF",
        "either",
    ] {
        assert!(!set.contains(not), "`{not}` taken for a program: {set:?}");
    }
}

#[test]
fn the_rust_parser_follows_helpers_and_bindings() {
    let src = r#"
        const PY: &str = "/usr/bin/python3";
        fn inner(preload: bool, args: &[&str]) { clean_command(args[0], &args[1..]); }
        fn outer(args: &[&str]) { inner(true, args) }
        fn hijack(dir: &D, args: &[&str]) -> Command {
            clean_command(format!("{ROOT}/scripts/lkl-hijack.sh"), args)
        }
        fn front(args: &[&str]) { let mut c = Command::new(x); c.arg("run").args(args); }
        fn not_a_spawner(args: &[&str], input: &[u8]) { run_with_input(BIN, args, input) }
        fn t() {
            outer(&["alpha", "-x"]);
            inner(false, &[PY, "script.py"]);
            for p in ["beta", "gamma"] { hijack(&d, &[p, "arg"]); }
            let mut v = vec!["delta", "-n"];
            hijack(&d, &v);
            for a in [&["epsilon"][..], &["zeta", "1"][..]] { outer(a); }
            front(&["--if", "0=a|b", "--", "eta", "-c"]);
            not_a_spawner(&["convert", "--from"], b"");
            Command::new("theta").arg("-x");
            require("iota");
            outer(&["runuser", "-u", "nobody", "--", "env", "X=1", "kappa"]);
            // outer(&["commented"]);
            let s = "outer(&[\"in_a_string\"])";
        }
    "#;
    let got: BTreeSet<String> = rust_programs(src, &Spawners::new()).into_iter().collect();
    for w in [
        "alpha",
        "/usr/bin/python3",
        "beta",
        "gamma",
        "delta",
        "epsilon",
        "zeta",
        "eta",
        "theta",
        "iota",
        "runuser",
        "env",
        "kappa",
    ] {
        assert!(got.contains(w), "`{w}` not found in {got:?}");
    }
    for not in ["convert", "commented", "in_a_string", "-x", "script.py"] {
        assert!(!got.contains(not), "`{not}` taken for a program: {got:?}");
    }
}
