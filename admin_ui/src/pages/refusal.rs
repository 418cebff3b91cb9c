//! The page a signed-in non-admin (or anyone refused) sees: one sentence saying why.

use maud::{html, Markup, DOCTYPE};

use crate::layout::head;

pub fn page(title: &str, sentence: &str) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            (head(title))
            body {
                main.signin {
                    h1 { (title) }
                    p #refusal { (sentence) }
                    p { a href="/admin/signin" { "Sign in with another account" } }
                }
            }
        }
    }
}
