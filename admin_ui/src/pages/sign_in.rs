//! The sign-in page: email, password, and the one-time code for accounts that enabled it.

use maud::{html, Markup, DOCTYPE};

use crate::layout::{csrf_field, head};
use crate::model::SignIn;

pub fn page(form: &SignIn) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            (head("Sign in"))
            body {
                main.signin {
                    h1 { "Tainá admin" }
                    @if let Some(error) = &form.error {
                        div.flash.error role="alert" { (error) }
                    }
                    form.stack #signin method="post" action="/admin/signin" {
                        (csrf_field(&form.csrf_token))
                        label { "Email" input type="email" name="email" value=(form.email) required autocomplete="username"; }
                        label { "Password" input type="password" name="password" required autocomplete="current-password"; }
                        label { "One-time code (if enabled)" input type="text" name="code" inputmode="numeric" autocomplete="one-time-code"; }
                        button type="submit" { "Sign in" }
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_form_carries_its_token_and_escapes_what_was_typed() {
        let html = page(&SignIn {
            csrf_token: "tok".into(),
            email: "a\"><script>@x".into(),
            error: Some("wrong <password>".into()),
        })
        .into_string();
        assert!(html.contains(r#"name="csrf_token" value="tok""#), "{html}");
        assert!(html.contains("a&quot;&gt;&lt;script&gt;@x"), "{html}");
        assert!(html.contains("wrong &lt;password&gt;"), "{html}");
        assert!(!html.contains("<script>@"), "{html}");
    }
}
