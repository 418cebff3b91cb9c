//! `mail.smtp_url` read into an SMTP transport.
//!
//! - `smtp://host:port`: plain SMTP, no TLS (a relay on the same machine, the test sink);
//! - `smtp://host:587?tls=starttls` (or lettre's own spelling `tls=required`): STARTTLS, and
//!   the connection fails rather than continue in the clear; `tls=opportunistic` upgrades only
//!   when the server offers it;
//! - `smtps://host:465`: implicit TLS from the first byte.
//!
//! `user:password@` before the host logs in (percent-encode special characters). TLS is
//! rustls with the system's trust store.

use std::time::Duration;

use lettre::{AsyncSmtpTransport, Tokio1Executor};

use super::MailError;

/// How the connection is protected.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TlsMode {
    None,
    StartTls,
    Opportunistic,
    Implicit,
}

/// A checked `mail.smtp_url`.
#[derive(Clone, Debug)]
pub struct SmtpTarget {
    /// The URL in the form `lettre` reads (`tls=starttls` spelled `tls=required`).
    url: String,
    pub tls: TlsMode,
    /// `host:port` as written, for the logs (never the credentials).
    pub shown: String,
}

impl SmtpTarget {
    pub fn parse(raw: &str) -> Result<Self, MailError> {
        let raw = raw.trim();
        let invalid = |why: &str| {
            MailError::InvalidUrl(format!(
                "{why} (`smtp://host:port`, `smtp://host:587?tls=starttls` or `smtps://host:465`)"
            ))
        };
        let (scheme, rest) = raw.split_once("://").ok_or_else(|| invalid("no scheme"))?;
        let (authority_path, query) = match rest.split_once('?') {
            Some((a, q)) => (a, Some(q)),
            None => (rest, None),
        };
        let authority = authority_path.split('/').next().unwrap_or_default();
        let host_port = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
        if host_port.is_empty() || host_port.starts_with(':') {
            return Err(invalid("no host"));
        }
        let mut tls_param = None;
        for pair in query
            .unwrap_or_default()
            .split('&')
            .filter(|p| !p.is_empty())
        {
            match pair.split_once('=') {
                Some(("tls", value)) => tls_param = Some(value.to_ascii_lowercase()),
                _ => return Err(invalid(&format!("unknown parameter `{pair}`"))),
            }
        }
        let tls = match (scheme.to_ascii_lowercase().as_str(), tls_param.as_deref()) {
            ("smtp", None | Some("none")) => TlsMode::None,
            ("smtp", Some("starttls" | "required")) => TlsMode::StartTls,
            ("smtp", Some("opportunistic")) => TlsMode::Opportunistic,
            ("smtps", None | Some("implicit")) => TlsMode::Implicit,
            (scheme, tls) => {
                return Err(invalid(&format!(
                    "scheme `{scheme}` with tls `{}` is not supported",
                    tls.unwrap_or("")
                )))
            }
        };
        let base = format!("{}://{authority_path}", scheme.to_ascii_lowercase());
        let url = match tls {
            TlsMode::None | TlsMode::Implicit => base,
            TlsMode::StartTls => format!("{base}?tls=required"),
            TlsMode::Opportunistic => format!("{base}?tls=opportunistic"),
        };
        let target = Self {
            url,
            tls,
            shown: host_port.to_string(),
        };
        // Let lettre check the rest (port, percent-encoding) now, not at the first mail.
        target.transport(Duration::from_secs(1))?;
        Ok(target)
    }

    /// A transport for this target; each conversation may take up to `timeout`.
    pub fn transport(
        &self,
        timeout: Duration,
    ) -> Result<AsyncSmtpTransport<Tokio1Executor>, MailError> {
        let builder = AsyncSmtpTransport::<Tokio1Executor>::from_url(&self.url)
            .map_err(|e| MailError::InvalidUrl(e.to_string()))?;
        Ok(builder.timeout(Some(timeout)).build())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_documented_forms_parse_and_others_are_refused() {
        let plain = SmtpTarget::parse("smtp://127.0.0.1:2525").unwrap();
        assert_eq!(
            (plain.tls, plain.shown.as_str()),
            (TlsMode::None, "127.0.0.1:2525")
        );
        let starttls =
            SmtpTarget::parse("smtp://me:s%40cret@mail.example.org:587?tls=starttls").unwrap();
        assert_eq!(starttls.tls, TlsMode::StartTls);
        assert_eq!(
            starttls.shown, "mail.example.org:587",
            "no credentials in what is shown"
        );
        assert_eq!(
            SmtpTarget::parse("smtp://mail.example.org?tls=required")
                .unwrap()
                .tls,
            TlsMode::StartTls
        );
        assert_eq!(
            SmtpTarget::parse("smtps://mail.example.org:465")
                .unwrap()
                .tls,
            TlsMode::Implicit
        );
        for bad in [
            "mail.example.org",
            "http://mail.example.org",
            "smtp://",
            "smtp://h?tls=maybe",
            "smtp://h?port=1",
            "smtp://h:notaport",
        ] {
            assert!(SmtpTarget::parse(bad).is_err(), "{bad}");
        }
    }
}
