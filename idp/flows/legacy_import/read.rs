//! Reading an export a record at a time: CSV with a header row (the `csv` crate: quoted fields
//! with commas, quotes and line breaks) or JSON Lines. Nothing is read ahead beyond a buffer, so
//! a file of any size takes the same memory.

use std::io::{BufRead, BufReader, Read};

use super::row::{COLUMNS, RawRow};

/// The file formats of an export (defined with the configuration, which checks
/// `legacy.import_at_start`).
pub use crate::config::ImportFormat as Format;

/// One record: the line it starts on, and its fields or why they cannot be read.
#[derive(Debug)]
pub struct Record {
    /// 1-based; a CSV file's header is line 1.
    pub line: u64,
    /// The fields, or the reason the row is refused.
    pub fields: Result<RawRow, String>,
}

/// The records of an export.
pub enum Records<R: Read> {
    /// A CSV file whose header has been read.
    Csv {
        /// The reader.
        reader: csv::Reader<Tail<R>>,
        /// For each column of the file, its index in [`COLUMNS`].
        columns: Vec<usize>,
        /// Reused between records.
        record: csv::ByteRecord,
    },
    /// A JSON Lines file.
    Jsonl {
        /// The reader.
        reader: BufReader<R>,
        /// The last line read.
        line: u64,
        /// Reused between lines.
        buffer: Vec<u8>,
    },
}

/// Why an export cannot be read at all.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    /// The header row is missing or names unknown columns.
    #[error("line 1: {0}")]
    Header(String),
    /// Reading failed.
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

impl<R: Read> Records<R> {
    /// Starts reading `input`; for CSV, reads and checks the header row.
    pub fn open(input: R, format: Format) -> Result<Records<R>, ReadError> {
        match format {
            Format::Csv => {
                // Records end at LF only (a CR before it is trimmed with the field), so that
                // the reader's line count is exact; see `start_line`.
                let mut reader = csv::ReaderBuilder::new()
                    .has_headers(true)
                    .flexible(true)
                    .terminator(csv::Terminator::Any(b'\n'))
                    .from_reader(Tail::new(input));
                let header = reader.byte_headers().map_err(csv_error)?.clone();
                Ok(Records::Csv {
                    columns: columns(&header)?,
                    reader,
                    record: csv::ByteRecord::new(),
                })
            }
            Format::Jsonl => Ok(Records::Jsonl {
                reader: BufReader::new(input),
                line: 0,
                buffer: Vec::new(),
            }),
        }
    }

    /// The next record, `None` at the end of the file.
    pub fn next_record(&mut self) -> Result<Option<Record>, ReadError> {
        match self {
            Records::Csv {
                reader,
                columns,
                record,
            } => {
                loop {
                    if !reader.read_byte_record(record).map_err(csv_error)? {
                        return Ok(None);
                    }
                    // A blank line ending in CRLF is a record of one field, "\r".
                    if record.len() == 1 && record.as_slice().trim_ascii().is_empty() {
                        continue;
                    }
                    return Ok(Some(Record {
                        line: start_line(reader, record),
                        fields: csv_fields(record, columns),
                    }));
                }
            }
            Records::Jsonl {
                reader,
                line,
                buffer,
            } => loop {
                buffer.clear();
                if reader.read_until(b'\n', buffer)? == 0 {
                    return Ok(None);
                }
                *line += 1;
                let text = match std::str::from_utf8(buffer) {
                    Ok(text) => text,
                    Err(e) => {
                        return Ok(Some(Record {
                            line: *line,
                            fields: Err(not_utf8(e)),
                        }));
                    }
                };
                let text = text.strip_prefix('\u{feff}').unwrap_or(text).trim();
                if text.is_empty() {
                    continue;
                }
                return Ok(Some(Record {
                    line: *line,
                    fields: json_fields(text),
                }));
            },
        }
    }
}

/// The line a CSV record starts on. The reader's own position for a record is where the
/// previous one ended, before any blank lines it skipped; after the record, its line count has
/// passed the record's line breaks and its final LF. So the start is that count less the line
/// breaks inside the record (quoted fields) and the final LF, which the last record may lack.
fn start_line<R: Read>(reader: &csv::Reader<Tail<R>>, record: &csv::ByteRecord) -> u64 {
    let after = reader.position();
    let inside = record.as_slice().iter().filter(|&&b| b == b'\n').count() as u64;
    let tail = reader.get_ref();
    let unterminated = tail.eof && after.byte() == tail.read && tail.last != Some(b'\n');
    after
        .line()
        .saturating_sub(inside + u64::from(!unterminated))
}

/// A reader that knows how many bytes it gave, the last of them, and whether it reached the end.
pub struct Tail<R> {
    inner: R,
    read: u64,
    last: Option<u8>,
    eof: bool,
}

impl<R> Tail<R> {
    fn new(inner: R) -> Self {
        Tail {
            inner,
            read: 0,
            last: None,
            eof: false,
        }
    }
}

impl<R: Read> Read for Tail<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        match buf[..n].last() {
            Some(&last) => {
                self.read += n as u64;
                self.last = Some(last);
            }
            None => self.eof = !buf.is_empty(),
        }
        Ok(n)
    }
}

fn csv_error(error: csv::Error) -> ReadError {
    match error.into_kind() {
        csv::ErrorKind::Io(e) => ReadError::Io(e),
        other => ReadError::Io(std::io::Error::other(format!("{other:?}"))),
    }
}

fn not_utf8(error: std::str::Utf8Error) -> String {
    format!("not valid UTF-8 (byte {})", error.valid_up_to() + 1)
}

/// Each header column's index in [`COLUMNS`]: names are matched trimmed and in any case.
fn columns(header: &csv::ByteRecord) -> Result<Vec<usize>, ReadError> {
    let expected = || COLUMNS.join(", ");
    if header.iter().all(|h| h.trim_ascii().is_empty()) {
        return Err(ReadError::Header(format!(
            "no header row: the first line names the columns ({})",
            expected()
        )));
    }
    let mut columns = Vec::with_capacity(header.len());
    for name in header {
        let name = String::from_utf8_lossy(name);
        let name = name.trim_start_matches('\u{feff}').trim().to_lowercase();
        let Some(index) = COLUMNS.iter().position(|c| *c == name) else {
            if let Some(cause) = not_comma_csv(&name) {
                return Err(ReadError::Header(cause.into()));
            }
            return Err(ReadError::Header(format!(
                "unknown column {name:?} (the columns are {})",
                expected()
            )));
        };
        if columns.contains(&index) {
            return Err(ReadError::Header(format!("column {name:?} appears twice")));
        }
        columns.push(index);
    }
    if !columns.contains(&0) {
        return Err(ReadError::Header(
            "no \"username\" column: it is the one required".into(),
        ));
    }
    Ok(columns)
}

/// What a spreadsheet saved instead of comma-separated UTF-8, told by the header's first unknown
/// column `name` (lowercased): a workbook, UTF-16 ("Unicode text"), or semicolons (a Finnish
/// spreadsheet's list separator).
fn not_comma_csv(name: &str) -> Option<&'static str> {
    if name.starts_with("pk\u{3}\u{4}") {
        return Some(
            "the file is a spreadsheet workbook (.xlsx), not CSV: save it as \"CSV UTF-8 (comma delimited)\"",
        );
    }
    if name.contains('\0') || name.starts_with('\u{fffd}') {
        return Some(
            "the file is not UTF-8 (UTF-16, a spreadsheet's \"Unicode text\"?): save it as \"CSV UTF-8 (comma delimited)\"",
        );
    }
    let by_semicolons = name.contains(';')
        && name
            .split(';')
            .all(|part| COLUMNS.contains(&part.trim()) || part.trim().is_empty());
    by_semicolons.then_some(
        "the columns are separated by semicolons (a spreadsheet's list separator in Finnish): save the file as \"CSV UTF-8 (comma delimited)\", or export it with commas",
    )
}

fn csv_fields(record: &csv::ByteRecord, columns: &[usize]) -> Result<RawRow, String> {
    if record.len() != columns.len() {
        return Err(format!(
            "expected {} fields, found {}",
            columns.len(),
            record.len()
        ));
    }
    let mut row = RawRow::default();
    for (field, &index) in record.iter().zip(columns) {
        let text = std::str::from_utf8(field)
            .map_err(|e| format!("{}: {}", COLUMNS[index], not_utf8(e)))?;
        if let Some(slot) = row.field_mut(index) {
            text.clone_into(slot);
        }
    }
    Ok(row)
}

fn json_fields(text: &str) -> Result<RawRow, String> {
    let object: serde_json::Map<String, serde_json::Value> =
        serde_json::from_str(text).map_err(|e| {
            // serde_json ends its message with "at line 1 column N": the line is the file's.
            let message = e.to_string();
            let message = message
                .rsplit_once(" at line ")
                .map_or(message.as_str(), |(m, _)| m);
            match e.column() {
                0 => format!("not a JSON object: {message}"),
                _ => format!("not a JSON object: {message} (column {})", e.column()),
            }
        })?;
    let mut row = RawRow::default();
    for (key, value) in object {
        let Some(index) = COLUMNS.iter().position(|c| *c == key) else {
            return Err(format!(
                "unknown key {key:?} (the keys are {})",
                COLUMNS.join(", ")
            ));
        };
        let text = match value {
            serde_json::Value::Null => String::new(),
            serde_json::Value::String(s) => s,
            // A whole number as written: a numeric subject, authority 1 or 0. Any other number
            // would be read as a float (`1e3` → "1000.0", a 20-digit id rounded): a wrong
            // subject for the e-services, so it is refused.
            serde_json::Value::Number(n) if n.is_i64() || n.is_u64() => n.to_string(),
            serde_json::Value::Number(_) => {
                return Err(format!(
                    "{key}: not a whole number of 64 bits; write such a value as a string"
                ));
            }
            serde_json::Value::Bool(b) if index == 5 => b.to_string(),
            _ => {
                return Err(format!(
                    "{key}: expected {}",
                    if index == 5 {
                        "true or false"
                    } else {
                        "a string"
                    }
                ));
            }
        };
        if let Some(slot) = row.field_mut(index) {
            *slot = text;
        }
    }
    Ok(row)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read_all(text: &str, format: Format) -> Vec<(u64, Result<RawRow, String>)> {
        let mut records = Records::open(text.as_bytes(), format).unwrap();
        let mut out = Vec::new();
        while let Some(record) = records.next_record().unwrap() {
            out.push((record.line, record.fields));
        }
        out
    }

    #[test]
    fn csv_quoting_line_numbers_and_column_count() {
        for newline in ["\n", "\r\n"] {
            let text = "\u{feff}Username,password_hash,email\n\
                        matti,\"x,\"\"y\",m@t.fi\n\
                        \n\
                        \"li\nsa\",,\n\
                        pekka,only two\n\
                        \n\
                        last,,"
                .replace('\n', newline);
            let rows = read_all(&text, Format::Csv);
            let lines: Vec<u64> = rows.iter().map(|r| r.0).collect();
            assert_eq!(lines, [2, 4, 6, 8], "{newline:?}: {rows:?}");
            let first = rows[0].1.as_ref().unwrap();
            assert_eq!(first.password_hash, "x,\"y");
            assert_eq!(first.email.trim(), "m@t.fi");
            assert_eq!(
                rows[1].1.as_ref().unwrap().username,
                format!("li{newline}sa")
            );
            assert_eq!(
                rows[2].1.as_ref().unwrap_err(),
                "expected 3 fields, found 2"
            );
            // The last line, with and without its line break.
            let rows = read_all(&format!("{text}{newline}"), Format::Csv);
            assert_eq!(rows.last().unwrap().0, 8);
        }
    }

    #[test]
    fn csv_header_problems() {
        let open = |text: &str| {
            Records::open(text.as_bytes(), Format::Csv)
                .err()
                .unwrap()
                .to_string()
        };
        assert_eq!(
            open("username,pasword_hash\n"),
            "line 1: unknown column \"pasword_hash\" (the columns are username, subject, email, password_hash, name, authority)"
        );
        assert_eq!(
            open("email,name\n"),
            "line 1: no \"username\" column: it is the one required"
        );
        assert!(open("").starts_with("line 1: no header row"));
        // What a spreadsheet saves instead: each is named.
        assert!(
            open("username;subject;email\nmatti;S-1;m@t.fi\n")
                .contains("the columns are separated by semicolons"),
        );
        let utf16: Vec<u8> = [0xff, 0xfe]
            .into_iter()
            .chain("username,email\n".encode_utf16().flat_map(u16::to_le_bytes))
            .collect();
        let refused = Records::open(&utf16[..], Format::Csv)
            .err()
            .unwrap()
            .to_string();
        assert!(refused.contains("the file is not UTF-8"), "{refused}");
        let workbook = Records::open(&b"PK\x03\x04\x14\x00\x06\x00"[..], Format::Csv)
            .err()
            .unwrap()
            .to_string();
        assert!(
            workbook.contains("a spreadsheet workbook (.xlsx)"),
            "{workbook}"
        );
    }

    #[test]
    fn csv_bad_utf8_rejects_the_row() {
        let mut bytes = b"username,name\nmatti,".to_vec();
        bytes.extend_from_slice(&[0xff, b'\n']);
        bytes.extend_from_slice(b"liisa,L\n");
        let mut records = Records::open(bytes.as_slice(), Format::Csv).unwrap();
        let first = records.next_record().unwrap().unwrap();
        assert_eq!(first.fields.unwrap_err(), "name: not valid UTF-8 (byte 1)");
        let second = records.next_record().unwrap().unwrap();
        assert_eq!(
            (second.line, second.fields.unwrap().name.as_str()),
            (3, "L")
        );
    }

    #[test]
    fn jsonl_rows_and_errors() {
        let text = "{\"username\":\"matti\",\"authority\":true,\"subject\":123}\n\
                    \n\
                    {\"username\":\"liisa\",\"email\":null}\n\
                    {\"username\": \n\
                    {\"user\":\"x\"}\n\
                    [1]\n\
                    {\"username\":\"x\",\"authority\":\"maybe\",\"name\":[1]}\n";
        let rows = read_all(text, Format::Jsonl);
        let lines: Vec<u64> = rows.iter().map(|r| r.0).collect();
        assert_eq!(lines, [1, 3, 4, 5, 6, 7]);
        let first = rows[0].1.as_ref().unwrap();
        assert_eq!(
            (first.authority.as_str(), first.subject.as_str()),
            ("true", "123")
        );
        assert_eq!(rows[1].1.as_ref().unwrap().email, "");
        assert_eq!(
            rows[2].1.as_ref().unwrap_err(),
            "not a JSON object: EOF while parsing a value (column 12)"
        );
        assert!(
            rows[3]
                .1
                .as_ref()
                .unwrap_err()
                .starts_with("unknown key \"user\"")
        );
        assert_eq!(
            rows[4].1.as_ref().unwrap_err(),
            "not a JSON object: invalid type: sequence, expected a map"
        );
        assert_eq!(rows[5].1.as_ref().unwrap_err(), "name: expected a string");
    }

    #[test]
    fn a_number_that_is_not_whole_is_refused_not_rounded() {
        let text = "{\"username\":\"a\",\"subject\":1e3}\n\
                    {\"username\":\"b\",\"subject\":123456789012345678901234}\n\
                    {\"username\":\"c\",\"subject\":-12,\"authority\":0}\n\
                    {\"username\":\"d\",\"subject\":18446744073709551615}\n";
        let rows = read_all(text, Format::Jsonl);
        let refused = "subject: not a whole number of 64 bits; write such a value as a string";
        for row in &rows[..2] {
            assert_eq!(row.1.as_ref().unwrap_err(), refused);
        }
        let whole = |n: usize| rows[n].1.as_ref().unwrap().subject.clone();
        assert_eq!(
            (whole(2), whole(3)),
            ("-12".into(), "18446744073709551615".into())
        );
        assert_eq!(rows[2].1.as_ref().unwrap().authority, "0");
    }

    #[test]
    fn format_from_the_extension() {
        use std::path::Path;
        assert_eq!(Format::from_path(Path::new("a/b.CSV")), Some(Format::Csv));
        assert_eq!(
            Format::from_path(Path::new("b.ndjson")),
            Some(Format::Jsonl)
        );
        assert_eq!(Format::from_path(Path::new("b.txt")), None);
        assert_eq!(Format::from_path(Path::new("b")), None);
    }
}
