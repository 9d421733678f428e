// SPDX-License-Identifier: GPL-2.0-only
//! libstdpkt.so: preloaded into a program, boots an instance before `main`
//! and routes the program's network calls into it (being written).
