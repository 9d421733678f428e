// SPDX-License-Identifier: GPL-2.0-only
//! stdin → stdout drivers for the filters (`stdpkt convert`, `stdpkt
//! dump`, `pktparser`): the framing layer works on the readers and writers
//! it is given; opening the process's own fds, messages and exit statuses
//! are the command line's business, so they live here.

use std::io;
use std::process::ExitCode;

use stdpkt::wire::{convert, ConvertError, Framing, OutputFormat, Stats};

use crate::sayln;

/// [`convert`] from stdin to stdout, for command-line filters: reports to
/// stderr as `TOOL: message` and returns the exit status.
///
/// Both ends are used through plain `read()`/`write()` on duplicates of fd 0
/// and 1: std's `Stdout` is line-buffered and could split a binary frame
/// across writes. Exit status: 0 at end of input, and also when the output
/// is closed (EPIPE), which just means the consumer (`head`, a closed
/// `tcpdump`) has seen enough; 1 on a read error, a write error or input that
/// cannot be decoded. Dropped frames are summed up in one line on stderr.
pub fn convert_stdio(tool: &str, from: Framing, to: OutputFormat) -> ExitCode {
    run_stdio(tool, |input, output| convert(input, output, from, to))
}

/// Runs filter `f` from stdin to stdout for a command-line tool: both ends
/// as plain files on duplicates of fd 0 and 1, errors reported to stderr as
/// `TOOL: message`, the exit status as [`convert_stdio`] describes.
pub fn run_stdio(
    tool: &str,
    f: impl FnOnce(std::fs::File, std::fs::File) -> Result<Stats, ConvertError>,
) -> ExitCode {
    use std::os::fd::AsFd;

    let dup = |fd: std::os::fd::BorrowedFd<'_>| fd.try_clone_to_owned().map(std::fs::File::from);
    let (input, output) = match (dup(io::stdin().as_fd()), dup(io::stdout().as_fd())) {
        (Ok(i), Ok(o)) => (i, o),
        (Err(e), _) | (_, Err(e)) => {
            sayln!("{tool}: cannot use stdin/stdout: {e}");
            return ExitCode::FAILURE;
        }
    };
    let (stats, status) = match f(input, output) {
        Ok(stats) => (stats, ExitCode::SUCCESS),
        Err(e) if e.is_broken_pipe() => return ExitCode::SUCCESS,
        Err(e) => {
            sayln!("{tool}: {e}");
            (e.stats, ExitCode::FAILURE)
        }
    };
    if let Some(summary) = stats.drop_summary() {
        sayln!("{tool}: {summary}");
    }
    status
}
