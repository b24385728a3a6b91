//! A tiny blocking RESP2 client, just enough to tell that a server is up and
//! to send it a few administrative commands from tests.
//!
//! Deliberately independent of the `redis` crate: the harness must be able to
//! judge a server without trusting the client library under test.

use std::fmt;
use std::io::{self, BufRead, BufReader, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::Duration;

/// A RESP2 reply.
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum RespValue {
    /// `+OK`-style status.
    Simple(String),
    /// `-ERR ...` error reply (the server's message).
    Error(String),
    /// `:42` integer.
    Integer(i64),
    /// `$n` bulk string; `None` for the null bulk string.
    Bulk(Option<Vec<u8>>),
    /// `*n` array; `None` for the null array.
    Array(Option<Vec<RespValue>>),
}

impl RespValue {
    /// The reply as text, for status and bulk replies.
    pub fn as_text(&self) -> Option<String> {
        match self {
            RespValue::Simple(s) => Some(s.clone()),
            RespValue::Bulk(Some(b)) => Some(String::from_utf8_lossy(b).into_owned()),
            _ => None,
        }
    }

    /// The integer, for integer replies.
    pub fn as_integer(&self) -> Option<i64> {
        match self {
            RespValue::Integer(n) => Some(*n),
            _ => None,
        }
    }

    /// Whether this is an error reply.
    pub fn is_error(&self) -> bool {
        matches!(self, RespValue::Error(_))
    }
}

impl fmt::Debug for RespValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RespValue::Simple(s) => write!(f, "+{s}"),
            RespValue::Error(s) => write!(f, "-{s}"),
            RespValue::Integer(n) => write!(f, ":{n}"),
            RespValue::Bulk(None) => f.write_str("(nil)"),
            RespValue::Bulk(Some(b)) => write!(f, "{:?}", String::from_utf8_lossy(b)),
            RespValue::Array(None) => f.write_str("(nil array)"),
            RespValue::Array(Some(items)) => f.debug_list().entries(items).finish(),
        }
    }
}

/// One blocking connection speaking RESP2.
///
/// ```no_run
/// use cache_testing::server::RespConnection;
/// let mut conn = RespConnection::connect("127.0.0.1:7000", std::time::Duration::from_secs(1))?;
/// let pong = conn.command(&["PING"])?;
/// assert_eq!(pong.as_text().as_deref(), Some("PONG"));
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Debug)]
pub struct RespConnection {
    reader: BufReader<TcpStream>,
}

impl RespConnection {
    /// Connects to `addr` with `timeout` for the connect and for every read and write.
    pub fn connect(addr: &str, timeout: Duration) -> io::Result<Self> {
        let sock = addr.to_socket_addrs()?.next().ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("no address for {addr}"),
            )
        })?;
        let stream = TcpStream::connect_timeout(&sock, timeout)?;
        stream.set_read_timeout(Some(timeout))?;
        stream.set_write_timeout(Some(timeout))?;
        stream.set_nodelay(true)?;
        Ok(RespConnection {
            reader: BufReader::new(stream),
        })
    }

    /// Sends `AUTH [user] password` and fails unless the server accepts it.
    pub fn auth(&mut self, username: Option<&str>, password: &str) -> io::Result<()> {
        let reply = match username {
            Some(user) => self.command(&["AUTH", user, password])?,
            None => self.command(&["AUTH", password])?,
        };
        match reply {
            RespValue::Simple(s) if s == "OK" => Ok(()),
            // Never echo the password: the server's reply does not contain it.
            other => Err(io::Error::new(
                io::ErrorKind::PermissionDenied,
                format!("AUTH refused: {other:?}"),
            )),
        }
    }

    /// Sends one command (arguments as text) and reads its reply. An error
    /// reply is `Ok(RespValue::Error(..))`: only I/O and protocol failures are `Err`.
    pub fn command(&mut self, args: &[&str]) -> io::Result<RespValue> {
        let args: Vec<&[u8]> = args.iter().map(|a| a.as_bytes()).collect();
        self.command_bytes(&args)
    }

    /// Sends one command with binary arguments and reads its reply.
    pub fn command_bytes(&mut self, args: &[&[u8]]) -> io::Result<RespValue> {
        let mut buf = Vec::with_capacity(64);
        buf.extend_from_slice(format!("*{}\r\n", args.len()).as_bytes());
        for arg in args {
            buf.extend_from_slice(format!("${}\r\n", arg.len()).as_bytes());
            buf.extend_from_slice(arg);
            buf.extend_from_slice(b"\r\n");
        }
        self.reader.get_mut().write_all(&buf)?;
        read_value(&mut self.reader)
    }
}

fn protocol_error(what: impl Into<String>) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, what.into())
}

fn read_line(r: &mut impl BufRead) -> io::Result<String> {
    let mut line = Vec::new();
    r.read_until(b'\n', &mut line)?;
    if line.is_empty() {
        return Err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            "connection closed by the server",
        ));
    }
    if !line.ends_with(b"\r\n") {
        return Err(protocol_error("reply line not terminated by CRLF"));
    }
    line.truncate(line.len() - 2);
    String::from_utf8(line).map_err(|_| protocol_error("reply line is not UTF-8"))
}

fn parse_len(s: &str) -> io::Result<i64> {
    s.parse()
        .map_err(|_| protocol_error(format!("bad length {s:?}")))
}

fn read_value(r: &mut impl BufRead) -> io::Result<RespValue> {
    let line = read_line(r)?;
    let mut chars = line.chars();
    let tag = chars
        .next()
        .ok_or_else(|| protocol_error("empty reply line"))?;
    let rest = chars.as_str();
    match tag {
        '+' => Ok(RespValue::Simple(rest.to_owned())),
        '-' => Ok(RespValue::Error(rest.to_owned())),
        ':' => Ok(RespValue::Integer(parse_len(rest)?)),
        '$' => {
            let n = parse_len(rest)?;
            if n < 0 {
                return Ok(RespValue::Bulk(None));
            }
            let mut data = vec![0u8; n as usize + 2];
            io::Read::read_exact(r, &mut data)?;
            data.truncate(n as usize);
            Ok(RespValue::Bulk(Some(data)))
        }
        '*' => {
            let n = parse_len(rest)?;
            if n < 0 {
                return Ok(RespValue::Array(None));
            }
            let items = (0..n).map(|_| read_value(r)).collect::<io::Result<_>>()?;
            Ok(RespValue::Array(Some(items)))
        }
        other => Err(protocol_error(format!("unknown reply type {other:?}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(bytes: &[u8]) -> io::Result<RespValue> {
        read_value(&mut BufReader::new(bytes))
    }

    #[test]
    fn parses_every_reply_type() {
        assert_eq!(
            parse(b"+PONG\r\n").unwrap(),
            RespValue::Simple("PONG".into())
        );
        assert_eq!(
            parse(b"-ERR no\r\n").unwrap(),
            RespValue::Error("ERR no".into())
        );
        assert_eq!(parse(b":-7\r\n").unwrap(), RespValue::Integer(-7));
        assert_eq!(parse(b"$-1\r\n").unwrap(), RespValue::Bulk(None));
        assert_eq!(
            parse(b"$4\r\na\r\nb\r\n").unwrap(),
            RespValue::Bulk(Some(b"a\r\nb".to_vec()))
        );
        assert_eq!(
            parse(b"*2\r\n:1\r\n$1\r\nx\r\n").unwrap(),
            RespValue::Array(Some(vec![
                RespValue::Integer(1),
                RespValue::Bulk(Some(b"x".to_vec()))
            ]))
        );
    }

    #[test]
    fn refuses_truncated_and_unknown_replies() {
        assert!(parse(b"").is_err());
        assert!(parse(b"+PONG").is_err());
        assert!(parse(b"?x\r\n").is_err());
        assert!(parse(b"$5\r\nab\r\n").is_err());
    }
}
