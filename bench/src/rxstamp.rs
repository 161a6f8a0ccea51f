//! Client sockets that keep the kernel's receive time of what they read (`SO_TIMESTAMPNS`), so a relayed message is
//! timed when the server's write reached this socket, not when this one-threaded load generator got round to it.
//!
//! On loopback the kernel stamps a segment as the server writes it (the receive path runs in the sender's system call),
//! so the figure is the server's own delay plus the kernel's, whatever the generator's core was doing meanwhile.

use std::io;
use std::io::IoSliceMut;
use std::os::fd::AsRawFd;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll, ready};

use nix::sys::socket::{ControlMessageOwned, MsgFlags, recvmsg, setsockopt, sockopt};
use nix::sys::time::TimeSpec;
use tokio::io::{AsyncRead, AsyncWrite, Interest, ReadBuf};
use tokio::net::TcpStream;

/// The kernel's receive time of the latest bytes read from a [`Stamped`] socket, in nanoseconds of
/// [`crate::wsclient::now_ns`]'s clock (the realtime clock), or 0 when they came without one: the kernel turns stamping
/// on a moment after the first socket asks (a deferred switch), so the very first bytes may be unstamped.
#[derive(Clone, Debug, Default)]
pub struct RxClock(Arc<AtomicU64>);

impl RxClock {
    pub fn latest_ns(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// A TCP stream whose reads record their kernel receive time in its [`RxClock`].
pub struct Stamped {
    tcp: TcpStream,
    clock: RxClock,
    /// Room for one control message: the stamp.
    control: Vec<u8>,
}

impl Stamped {
    pub fn new(tcp: TcpStream) -> io::Result<Self> {
        setsockopt(tcp.as_raw_fd(), sockopt::ReceiveTimestampns, &true).map_err(io::Error::from)?;
        Ok(Self { tcp, clock: RxClock::default(), control: nix::cmsg_space!(TimeSpec) })
    }

    pub fn clock(&self) -> RxClock {
        self.clock.clone()
    }

    /// One `recvmsg` into `into`: the bytes read and the stamp of the last of them, if the kernel gave one.
    fn receive(&mut self, into: &mut [u8]) -> io::Result<(usize, Option<u64>)> {
        let fd = self.tcp.as_raw_fd();
        let control = &mut self.control;
        self.tcp.try_io(Interest::READABLE, || {
            let mut iov = [IoSliceMut::new(into)];
            let msg = recvmsg::<()>(fd, &mut iov, Some(&mut *control), MsgFlags::MSG_DONTWAIT).map_err(io::Error::from)?;
            let stamp = msg.cmsgs().find_map(|c| match c {
                ControlMessageOwned::ScmTimestampns(ts) => Some(ts_ns(ts)),
                _ => None,
            });
            Ok((msg.bytes, stamp))
        })
    }
}

fn ts_ns(ts: TimeSpec) -> u64 {
    u64::try_from(ts.tv_sec()).unwrap_or(0) * 1_000_000_000 + u64::try_from(ts.tv_nsec()).unwrap_or(0)
}

impl AsyncRead for Stamped {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        loop {
            ready!(this.tcp.poll_read_ready(cx))?;
            match this.receive(buf.initialize_unfilled()) {
                Ok((n, stamp)) => {
                    // Unstamped bytes (sent before the kernel turned stamping on) must not inherit an older read's time.
                    this.clock.0.store(stamp.unwrap_or(0), Ordering::Relaxed);
                    buf.advance(n);
                    return Poll::Ready(Ok(()));
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
                Err(e) => return Poll::Ready(Err(e)),
            }
        }
    }
}

impl AsyncWrite for Stamped {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, data: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().tcp).poll_write(cx, data)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().tcp).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().tcp).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    use super::*;
    use crate::wsclient::now_ns;

    #[tokio::test]
    async fn a_read_keeps_the_time_the_bytes_arrived_not_when_they_were_read() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (client, accepted) = tokio::join!(TcpStream::connect(addr), listener.accept());
        let mut stamped = Stamped::new(client.unwrap()).unwrap();
        let clock = stamped.clock();
        let mut server = accepted.unwrap().0;
        assert_eq!(clock.latest_ns(), 0);
        // Until the kernel has switched stamping on, bytes come unstamped (and the clock says so, with 0).
        let mut one = [0u8; 1];
        for _ in 0..200 {
            server.write_all(b"w").await.unwrap();
            stamped.read_exact(&mut one).await.unwrap();
            if clock.latest_ns() != 0 {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
        assert_ne!(clock.latest_ns(), 0, "the kernel never stamped a read");
        let before = now_ns();
        server.write_all(b"hello").await.unwrap();
        let written = now_ns();
        // Read well after the bytes arrived: the stamp is still the arrival.
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        let mut got = [0u8; 5];
        stamped.read_exact(&mut got).await.unwrap();
        assert_eq!(&got, b"hello");
        let stamp = clock.latest_ns();
        assert!(before <= stamp && stamp <= written, "{before} <= {stamp} <= {written}");
        assert!(now_ns() - stamp >= 50_000_000);
    }
}
