//! Live regions: the parts of a page that change by themselves.
//!
//! A region is an element with a stable `id`. On the page it renders plainly; pushed over the
//! live socket it renders with `hx-swap-oob="true"`, which htmx (2 and 4 alike) swaps into the
//! element of the same id wherever it is. A page's live function returns its regions; the server
//! sends only those whose HTML changed since the last push, concatenated in one text frame.

use maud::{html, Markup, PreEscaped};

/// Whether a region is part of a whole page or pushed on its own.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Rendering {
    Page,
    Push,
}

/// One rendered region: its element id and its HTML.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Region {
    pub id: String,
    pub html: String,
}

/// Wraps `content` in `<tag id=…>` (with the out-of-band swap marker when pushed).
pub fn region(tag: &str, id: &str, class: &str, rendering: Rendering, content: Markup) -> Markup {
    let oob = match rendering {
        Rendering::Page => "",
        Rendering::Push => r#" hx-swap-oob="true""#,
    };
    // maud cannot take the tag name as a variable; the id and class are escaped here.
    let open = format!(
        r#"<{tag} id="{}" class="{}"{oob}>"#,
        maud::html! { (id) }.into_string(),
        maud::html! { (class) }.into_string(),
    );
    html! {
        (PreEscaped(open))
        (content)
        (PreEscaped(format!("</{tag}>")))
    }
}

impl Region {
    pub fn new(id: impl Into<String>, html: Markup) -> Self {
        Self {
            id: id.into(),
            html: html.into_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pushed_region_carries_the_oob_marker_and_escapes_its_id() {
        let page = region("div", "kpi-a", "card", Rendering::Page, html! { "1" });
        assert_eq!(
            page.into_string(),
            r#"<div id="kpi-a" class="card">1</div>"#
        );
        let pushed = region("tr", "u-\"x", "", Rendering::Push, html! { td { "<b>" } });
        assert_eq!(
            pushed.into_string(),
            r#"<tr id="u-&quot;x" class="" hx-swap-oob="true"><td>&lt;b&gt;</td></tr>"#
        );
    }
}
