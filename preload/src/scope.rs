// SPDX-License-Identifier: GPL-2.0-only
//! getaddrinfo and getnameinfo where glibc would look at the host's
//! interfaces through internal calls no preload can see:
//!
//! - IPv6 scope ids written as interface names (`fe80::1%eth0`): a name in
//!   the node given to getaddrinfo is turned into the instance's index
//!   first, and the scope getnameinfo writes is named after the instance's
//!   interface with that index;
//! - AI_ADDRCONFIG: glibc's rule applied to the address families the
//!   instance has addresses of (not counting loopback).

use std::ffi::{c_char, c_int, c_uint, CStr, CString};

use libc::{addrinfo, sockaddr, socklen_t};

use crate::{real, running};

/// `node` with a non-numeric scope replaced by the instance's index for
/// it: Ok(None) when there is nothing to replace, Err(()) for a name the
/// instance does not have.
fn numeric_scope(node: &[u8]) -> Result<Option<CString>, ()> {
    let Some(pos) = node.iter().position(|&b| b == b'%') else {
        return Ok(None);
    };
    let scope = &node[pos + 1..];
    if scope.is_empty() || scope.iter().all(u8::is_ascii_digit) {
        return Ok(None);
    }
    let name = CString::new(scope).map_err(|_| ())?;
    // SAFETY: a NUL-terminated name; our own interposed function.
    let index = unsafe { crate::ifaddrs::if_nametoindex(name.as_ptr()) };
    if index == 0 {
        return Err(());
    }
    let mut out = node[..=pos].to_vec();
    out.extend(index.to_string().bytes());
    CString::new(out).map(Some).map_err(|_| ())
}

#[no_mangle]
pub unsafe extern "C" fn getaddrinfo(
    node: *const c_char,
    service: *const c_char,
    hints: *const addrinfo,
    res: *mut *mut addrinfo,
) -> c_int {
    let real = real!(getaddrinfo: fn(*const c_char, *const c_char, *const addrinfo, *mut *mut addrinfo) -> c_int);
    if !running() {
        // SAFETY: plain getaddrinfo with the program's arguments.
        return unsafe { real(node, service, hints, res) };
    }
    let mut scoped = None;
    if !node.is_null() {
        // SAFETY: the program's NUL-terminated node.
        let n = unsafe { CStr::from_ptr(node) }.to_bytes();
        match numeric_scope(n) {
            Ok(c) => scoped = c,
            Err(()) => return libc::EAI_NONAME,
        }
    }
    let node = scoped.as_ref().map_or(node, |c| c.as_ptr());
    // SAFETY: hints is null or the program's addrinfo.
    let addrconfig = unsafe { hints.as_ref() }.filter(|h| h.ai_flags & libc::AI_ADDRCONFIG != 0);
    let Some(h) = addrconfig else {
        // SAFETY: the program's arguments, node maybe rewritten (ours,
        // NUL-terminated).
        return unsafe { real(node, service, hints, res) };
    };
    let Ok((v4, v6)) = crate::ifaddrs::families_configured() else {
        // SAFETY: as above.
        return unsafe { real(node, service, hints, res) };
    };
    // glibc's own rule, with the instance's addresses: an unspecified
    // family narrows to the one family seen, if only one is; asking for a
    // family not seen finds nothing.
    let mut plain = *h;
    plain.ai_flags &= !libc::AI_ADDRCONFIG;
    match plain.ai_family {
        libc::AF_UNSPEC if v4 != v6 => {
            plain.ai_family = if v4 { libc::AF_INET } else { libc::AF_INET6 };
        }
        libc::AF_INET if !v4 => return libc::EAI_NONAME,
        libc::AF_INET6 if !v6 => return libc::EAI_NONAME,
        _ => {}
    }
    // SAFETY: as above, with our copy of the hints.
    unsafe { real(node, service, &plain, res) }
}

/// Rewrites the scope after the last `%` of the NUL-terminated text in
/// `host` to the instance's name for interface `index` (its number if the
/// instance has no such interface). Returns an EAI error if it does not
/// fit.
fn named_scope(host: &mut [u8], index: c_uint) -> c_int {
    let end = host.iter().position(|&b| b == 0).unwrap_or(host.len());
    let Some(pos) = host[..end].iter().rposition(|&b| b == b'%') else {
        return 0;
    };
    let mut name = [0 as c_char; libc::IF_NAMESIZE];
    // SAFETY: name has IF_NAMESIZE bytes; our own interposed function.
    let scope = if unsafe { crate::ifaddrs::if_indextoname(index, name.as_mut_ptr()) }.is_null() {
        index.to_string().into_bytes()
    } else {
        // SAFETY: if_indextoname wrote a NUL-terminated name.
        unsafe { CStr::from_ptr(name.as_ptr()) }.to_bytes().to_vec()
    };
    if pos + 1 + scope.len() + 1 > host.len() {
        return libc::EAI_OVERFLOW;
    }
    host[pos + 1..pos + 1 + scope.len()].copy_from_slice(&scope);
    host[pos + 1 + scope.len()] = 0;
    0
}

#[no_mangle]
pub unsafe extern "C" fn getnameinfo(
    sa: *const sockaddr,
    salen: socklen_t,
    host: *mut c_char,
    hostlen: socklen_t,
    serv: *mut c_char,
    servlen: socklen_t,
    flags: c_int,
) -> c_int {
    let real = real!(getnameinfo: fn(*const sockaddr, socklen_t, *mut c_char, socklen_t, *mut c_char, socklen_t, c_int) -> c_int);
    // SAFETY: the program's arguments as given.
    let r = unsafe { real(sa, salen, host, hostlen, serv, servlen, flags) };
    if r != 0 || !running() || sa.is_null() || host.is_null() || hostlen == 0 {
        return r;
    }
    if (salen as usize) < std::mem::size_of::<libc::sockaddr_in6>()
        // SAFETY: sa holds at least a sockaddr_in6 (checked just above).
        || unsafe { (*sa).sa_family } != libc::AF_INET6 as libc::sa_family_t
    {
        return r;
    }
    // SAFETY: as above.
    let index = unsafe { (*sa.cast::<libc::sockaddr_in6>()).sin6_scope_id };
    if index == 0 {
        return r;
    }
    // glibc named the scope after the host's interface with that index.
    // SAFETY: host holds hostlen bytes, which getnameinfo filled.
    named_scope(
        unsafe { std::slice::from_raw_parts_mut(host.cast::<u8>(), hostlen as usize) },
        index,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numeric_or_absent_scopes_are_left_alone() {
        assert_eq!(numeric_scope(b"2001:db8::1"), Ok(None));
        assert_eq!(numeric_scope(b"fe80::1%2"), Ok(None));
        assert_eq!(numeric_scope(b"fe80::1%"), Ok(None));
    }

    #[test]
    fn the_scope_is_renamed_or_numbered() {
        // Without an instance, index 0x7fff_ffff has no name: its number.
        let mut h = *b"fe80::1%ifb0\0\0\0\0\0\0\0\0\0\0";
        assert_eq!(named_scope(&mut h, 2147483647), 0);
        assert!(h.starts_with(b"fe80::1%2147483647\0"));
        let mut short = *b"fe80::1%ifb0\0";
        assert_eq!(named_scope(&mut short, 2147483647), libc::EAI_OVERFLOW);
        let mut plain = *b"2001:db8::1\0";
        assert_eq!(named_scope(&mut plain, 3), 0);
        assert_eq!(&plain, b"2001:db8::1\0");
    }
}
