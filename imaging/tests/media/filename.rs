//! `sanitize` keeps only a displayable last path segment.

use taina_imaging::{sanitize, MAX_NAME_BYTES};

#[test]
fn path_components_are_dropped() {
    assert_eq!(sanitize("../../etc/passwd"), "passwd");
    assert_eq!(sanitize("C:\\x\\evil.jpg"), "evil.jpg");
    assert_eq!(sanitize("/var/www/../photo.png"), "photo.png");
    assert_eq!(sanitize("mixed/sep\\arators.gif"), "arators.gif");
}

#[test]
fn control_characters_are_removed() {
    assert_eq!(sanitize("ho\u{0}li\nday\r\t.jpg"), "holiday.jpg");
    assert_eq!(sanitize("bell\u{7}\u{1b}[31m.png"), "bell[31m.png");
    assert_eq!(sanitize("c1\u{85}\u{9f}.gif"), "c1.gif");
}

#[test]
fn leading_dots_and_blanks_go() {
    assert_eq!(sanitize("..."), "file");
    assert_eq!(sanitize(".."), "file");
    assert_eq!(sanitize(".hidden.jpg"), "hidden.jpg");
    assert_eq!(sanitize("  . .profile "), "profile");
    assert_eq!(sanitize("   "), "file");
    assert_eq!(sanitize(""), "file");
    assert_eq!(sanitize("dir/"), "file");
}

#[test]
fn long_names_are_cut_on_a_char_boundary() {
    // 3-byte chars: 200 is not a multiple of 3, so a byte cut would split one.
    let name = "日".repeat(150);
    let out = sanitize(&name);
    assert!(out.len() <= MAX_NAME_BYTES);
    assert_eq!(out, "日".repeat(66));

    let name = "a".repeat(1000);
    assert_eq!(sanitize(&name), "a".repeat(MAX_NAME_BYTES));

    let name = format!("{}.jpg", "é".repeat(150));
    let out = sanitize(&name);
    assert!(out.len() <= MAX_NAME_BYTES);
    assert!(out.ends_with(".jpg"));
}

#[test]
fn unicode_is_kept() {
    assert_eq!(
        sanitize("Praia de Ipanemã 🌅.heic"),
        "Praia de Ipanemã 🌅.heic"
    );
    assert_eq!(sanitize("фото/日本の写真.png"), "日本の写真.png");
}
