//! Just enough HTTP/1.1 for a test to talk to a local node and to be a local
//! sink: one message read from a stream (Content-Length, chunked, or until the
//! end for a response), and a request with `Connection: close` (a POST to a
//! node, the WebDriver calls of [`crate::Browser`]).
//!
//! Deliberately minimal and blocking: scaffolding between processes on one
//! machine, not a client or server anyone relies on.

use std::io::{self, BufRead, BufReader, Write};
use std::net::TcpStream;
use std::time::Duration;

/// One request or response.
pub(crate) struct Message {
    /// `POST /hook HTTP/1.1`, or `HTTP/1.1 200 OK`.
    pub(crate) start_line: String,
    /// Names as sent, in order.
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) body: Vec<u8>,
}

impl Message {
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// Whether a message without a length runs to the end of the stream (a
/// response) or has no body (a request).
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Unframed {
    ToEnd,
    Empty,
}

fn invalid(what: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, what.to_owned())
}

fn read_line(reader: &mut impl BufRead) -> io::Result<Option<String>> {
    let mut line = String::new();
    if reader.read_line(&mut line)? == 0 {
        return Ok(None);
    }
    Ok(Some(line.trim_end_matches(['\r', '\n']).to_owned()))
}

/// Reads one message; `None` when the stream ends before it starts.
pub(crate) fn read_message(
    reader: &mut impl BufRead,
    unframed: Unframed,
) -> io::Result<Option<Message>> {
    let Some(start_line) = read_line(reader)? else {
        return Ok(None);
    };
    let mut headers = Vec::new();
    loop {
        let line = read_line(reader)?.ok_or_else(|| invalid("the stream ended in the headers"))?;
        if line.is_empty() {
            break;
        }
        if let Some((name, value)) = line.split_once(':') {
            headers.push((name.trim().to_owned(), value.trim().to_owned()));
        }
    }
    let mut message = Message {
        start_line,
        headers,
        body: Vec::new(),
    };
    let chunked = message
        .header("transfer-encoding")
        .is_some_and(|v| v.to_ascii_lowercase().contains("chunked"));
    let length = message
        .header("content-length")
        .map(|v| {
            v.parse::<usize>()
                .map_err(|_| invalid("bad Content-Length"))
        })
        .transpose()?;
    message.body = if chunked {
        read_chunked(reader)?
    } else if let Some(length) = length {
        let mut body = vec![0; length];
        reader.read_exact(&mut body)?;
        body
    } else if unframed == Unframed::ToEnd {
        let mut body = Vec::new();
        reader.read_to_end(&mut body)?;
        body
    } else {
        Vec::new()
    };
    Ok(Some(message))
}

fn read_chunked(reader: &mut impl BufRead) -> io::Result<Vec<u8>> {
    let mut body = Vec::new();
    loop {
        let line = read_line(reader)?.ok_or_else(|| invalid("the stream ended in a chunk"))?;
        let size = line.split(';').next().unwrap_or_default().trim();
        let size = usize::from_str_radix(size, 16).map_err(|_| invalid("bad chunk size"))?;
        if size == 0 {
            // Trailers, up to the empty line.
            while read_line(reader)?.is_some_and(|l| !l.is_empty()) {}
            return Ok(body);
        }
        let start = body.len();
        body.resize(start + size, 0);
        reader.read_exact(&mut body[start..])?;
        read_line(reader)?;
    }
}

/// POSTs `body` as JSON to `http://127.0.0.1:{port}{path}` on a fresh
/// connection; the status and the body of the answer.
pub(crate) fn post(port: u16, path: &str, body: &[u8]) -> io::Result<(u16, Vec<u8>)> {
    request(port, "POST", path, Some(body), Duration::from_secs(30))
}

/// One request (`body` sent as JSON when given) on a fresh connection with
/// `Connection: close`; the status and the body of the answer.
pub(crate) fn request(
    port: u16,
    method: &str,
    path: &str,
    body: Option<&[u8]>,
    timeout: Duration,
) -> io::Result<(u16, Vec<u8>)> {
    let mut stream = TcpStream::connect(("127.0.0.1", port))?;
    stream.set_read_timeout(Some(timeout))?;
    let mut head =
        format!("{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n");
    if let Some(body) = body {
        head.push_str(&format!(
            "Content-Type: application/json\r\nContent-Length: {}\r\n",
            body.len()
        ));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes())?;
    if let Some(body) = body {
        stream.write_all(body)?;
    }
    let mut reader = BufReader::new(stream);
    let answer = read_message(&mut reader, Unframed::ToEnd)?
        .ok_or_else(|| invalid("the connection closed without an answer"))?;
    let status = answer
        .start_line
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| invalid("no status in the answer"))?;
    Ok((status, answer.body))
}
