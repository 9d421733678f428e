// SPDX-License-Identifier: GPL-2.0-only
//! Linux 6.12 as an in-process library (placeholder while the port is written).
