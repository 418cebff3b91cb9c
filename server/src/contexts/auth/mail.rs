//! The letters auth sends: password reset links and email confirmation links, and where those
//! links point (`/admin/reset/{token}` and `/admin/confirm/{token}` under the server's public
//! URL). Without mail configured the [`Mailer`] writes them to the log, and the callers that
//! can (an admin's reset, the CLI) show the link instead.

use chrono::{DateTime, Utc};

use crate::mail::{Letter, Mailer};

/// The mailer and the base URL of the links.
#[derive(Clone)]
pub struct AccountMail {
    mailer: Mailer,
    /// `https://home.example.org`, without a trailing slash.
    base_url: String,
}

impl AccountMail {
    pub fn new(mailer: Mailer, base_url: &str) -> Self {
        Self {
            mailer,
            base_url: base_url.trim_end_matches('/').to_string(),
        }
    }

    /// Whether letters leave the server (else links must be shown some other way).
    pub fn sends(&self) -> bool {
        self.mailer.sends()
    }

    pub fn reset_link(&self, token: &str) -> String {
        format!("{}/admin/reset/{token}", self.base_url)
    }

    pub fn confirm_link(&self, token: &str) -> String {
        format!("{}/admin/confirm/{token}", self.base_url)
    }

    /// Queues a letter; a failure is the mailer's to log, never the requester's to know.
    fn send(&self, letter: Letter) {
        let _ = self.mailer.send(letter);
    }

    pub fn send_reset(&self, to: &str, community: &str, token: &str, until: DateTime<Utc>) {
        let text = format!(
            "Someone (hopefully you) asked to set a new password for your account {to} in \
             {community}.\n\nOpen this link to choose a new password; it works once, until \
             {until} UTC, and signs out every device of yours:\n\n{link}\n\nIf it was not you, \
             ignore this mail: your password stays as it is.\n",
            until = until.format("%Y-%m-%d %H:%M"),
            link = self.reset_link(token),
        );
        self.send(Letter::new(
            to,
            format!("{community}: set a new password"),
            text,
        ));
    }

    pub fn send_confirmation(
        &self,
        to: &str,
        community: &str,
        token: &str,
        until: DateTime<Utc>,
        change: bool,
    ) {
        let why = if change {
            format!("Someone (hopefully you) asked to change the email address of an account in {community} to {to}.")
        } else {
            format!("Welcome to {community}. Please confirm that {to} is your address.")
        };
        let text = format!(
            "{why}\n\nOpen this link to confirm it (it works once, until {until} UTC):\n\n\
             {link}\n\nIf it was not you, ignore this mail.\n",
            until = until.format("%Y-%m-%d %H:%M"),
            link = self.confirm_link(token),
        );
        self.send(Letter::new(
            to,
            format!("{community}: confirm your email address"),
            text,
        ));
    }

    /// Tells the account's address that its password changed (by the person, or through a
    /// reset link): someone who did not do it knows to act.
    pub fn send_password_changed(&self, to: &str, community: &str) {
        let text = format!(
            "The password of your account {to} in {community} was just changed.\n\nIf it was \
             not you, ask for a new password with \"forgot password\" in your app (that signs \
             out every device) and tell an admin of {community}.\n"
        );
        self.send(Letter::new(
            to,
            format!("{community}: your password was changed"),
            text,
        ));
    }

    /// Tells the old address that a change to `new` was asked for (it takes effect only when
    /// the new address confirms).
    pub fn send_change_notice(&self, old: &str, new: &str, community: &str) {
        let text = format!(
            "Someone signed in to your account {old} in {community} asked to change its email \
             address to {new}. The change happens only when the link sent to {new} is opened.\n\n\
             If it was not you, change your password now: that also signs out every other \
             device.\n"
        );
        self.send(Letter::new(
            old,
            format!("{community}: email address change"),
            text,
        ));
    }
}
