//! `sniff` decides from the bytes alone.

use image::ImageFormat;
use taina_imaging::{extension, is_video, sniff};

use crate::support::{encode, gradient, jpeg};

#[test]
fn generated_images_are_recognised() {
    let image = gradient(16, 8);
    assert_eq!(sniff(&jpeg(16, 8)), Some("image/jpeg"));
    assert_eq!(sniff(&encode(&image, ImageFormat::Png)), Some("image/png"));
    assert_eq!(sniff(&encode(&image, ImageFormat::Gif)), Some("image/gif"));
    assert_eq!(
        sniff(&encode(&image, ImageFormat::WebP)),
        Some("image/webp")
    );
}

#[test]
fn only_the_head_is_needed() {
    let png = encode(&gradient(64, 64), ImageFormat::Png);
    assert_eq!(sniff(&png[..taina_imaging::SNIFF_LEN]), Some("image/png"));
}

#[test]
fn mp4_ftyp_header() {
    // What an iPhone or Android export starts with: ftyp box, major brand, compatible brands.
    let mut mp4 = 24u32.to_be_bytes().to_vec();
    mp4.extend_from_slice(b"ftypisom\0\0\x02\0isomiso2");
    mp4.extend_from_slice(&8u32.to_be_bytes());
    mp4.extend_from_slice(b"free");
    let mime = sniff(&mp4);
    assert_eq!(mime, Some("video/mp4"));
    assert!(is_video(mime.unwrap()));
    assert_eq!(extension(mime.unwrap()), "mp4");
}

#[test]
fn text_is_refused() {
    assert_eq!(sniff(b"hello, this is not a photo\n"), None);
    assert_eq!(sniff(b"<svg xmlns=\"http://www.w3.org/2000/svg\"/>"), None);
    assert_eq!(sniff(b""), None);
}

#[test]
fn the_name_does_not_matter() {
    // A PNG uploaded as "holiday.jpg" with Content-Type image/jpeg is still a PNG: sniff never
    // sees the claim, only the bytes.
    let png = encode(&gradient(8, 8), ImageFormat::Png);
    assert_eq!(sniff(&png), Some("image/png"));
    assert_eq!(extension(sniff(&png).unwrap()), "png");
    // And a script named like a photo is refused.
    assert_eq!(sniff(b"#!/bin/sh\nrm -rf /\n"), None);
}

#[test]
fn extensions() {
    for (mime, ext) in [
        ("image/jpeg", "jpg"),
        ("image/png", "png"),
        ("image/webp", "webp"),
        ("image/gif", "gif"),
        ("image/heic", "heic"),
        ("image/heif", "heif"),
        ("image/avif", "avif"),
        ("image/tiff", "tiff"),
        ("video/mp4", "mp4"),
        ("video/quicktime", "mov"),
        ("video/webm", "webm"),
        ("video/x-matroska", "mkv"),
    ] {
        assert_eq!(extension(mime), ext, "{mime}");
        assert_eq!(is_video(mime), mime.starts_with("video/"), "{mime}");
    }
}
