//! `fetch` against a loopback HTTP server serving fixture archives.

mod common;

use std::{
    io::{BufRead, BufReader, Write},
    net::TcpListener,
    path::Path,
};

use md5::{Digest, Md5};
use tfkd_datasets::{
    fetch::{fetch, Entry, Remote, Unpack},
    hex, Source,
};

/// Serves `files` (name → bytes) on 127.0.0.1 for a bounded number of requests; returns the base URL.
fn serve(files: Vec<(String, Vec<u8>)>, requests: usize) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        for stream in listener.incoming().take(requests) {
            let mut stream = stream.unwrap();
            let mut line = String::new();
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            reader.read_line(&mut line).unwrap();
            loop {
                let mut h = String::new();
                if reader.read_line(&mut h).unwrap() <= 2 {
                    break;
                }
            }
            let path = line.split_whitespace().nth(1).unwrap_or("/").trim_start_matches('/').to_string();
            match files.iter().find(|(n, _)| *n == path) {
                Some((_, body)) => {
                    write!(stream, "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n", body.len())
                        .unwrap();
                    stream.write_all(body).unwrap();
                }
                None => {
                    write!(stream, "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n").unwrap()
                }
            }
        }
    });
    base
}

fn md5_hex(bytes: &[u8]) -> &'static str {
    Box::leak(hex(&Md5::digest(bytes)).into_boxed_str())
}

fn cifar10_archive(dir: &Path) -> Vec<u8> {
    let root = dir.join("src/cifar-10-batches-bin");
    for (k, name) in common::CIFAR10_BIN_FILES.iter().enumerate() {
        common::write(&root.join(name), &common::cifar_record(&[k as u8], k));
    }
    let archive = dir.join("cifar-10-binary.tar.gz");
    common::tar_gz(&root, "cifar-10-batches-bin", &archive);
    std::fs::read(archive).unwrap()
}

#[test]
fn fetch_verifies_and_unpacks() {
    let tmp = tempfile::tempdir().unwrap();
    let archive = cifar10_archive(tmp.path());
    let base = serve(vec![("cifar-10-binary.tar.gz".into(), archive.clone())], 1);
    let entry = Entry {
        name: "cifar10",
        folder: "cifar-10-batches-bin",
        files: vec![Remote {
            url: format!("{base}/cifar-10-binary.tar.gz"),
            md5: md5_hex(&archive),
            unpack: Unpack::TarGz,
        }],
    };
    let data = tmp.path().join("data");
    let dest = fetch(&entry, &data).unwrap();
    assert_eq!(dest, data.join("cifar-10-batches-bin"));
    let ds = Source::Cifar10(data.clone()).load(&tmp.path().join("cache")).unwrap();
    assert_eq!(ds.train.labels, vec![0, 1, 2, 3, 4]);
    let left: Vec<_> = std::fs::read_dir(&data).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(left, vec!["cifar-10-batches-bin"], "no staging left behind");
    // Already there: no request is made (the server has no requests left).
    assert_eq!(fetch(&entry, &data).unwrap(), dest);
}

#[test]
fn wrong_checksum_is_rejected_and_leaves_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let archive = cifar10_archive(tmp.path());
    let base = serve(vec![("cifar-10-binary.tar.gz".into(), archive)], 1);
    let entry = Entry {
        name: "cifar10",
        folder: "cifar-10-batches-bin",
        files: vec![Remote {
            url: format!("{base}/cifar-10-binary.tar.gz"),
            md5: "00000000000000000000000000000000",
            unpack: Unpack::TarGz,
        }],
    };
    let data = tmp.path().join("data");
    let err = fetch(&entry, &data).unwrap_err().to_string();
    assert!(err.contains("MD5 mismatch") && err.contains("published 00000000000000000000000000000000"), "{err}");
    assert_eq!(std::fs::read_dir(&data).unwrap().count(), 0, "nothing half-written");
}

#[test]
fn keep_files_and_http_errors() {
    let tmp = tempfile::tempdir().unwrap();
    let body = b"idx bytes".to_vec();
    let base = serve(vec![("a.gz".into(), body.clone())], 2);
    let entry = Entry {
        name: "fashion-mnist",
        folder: "fashion-mnist",
        files: vec![Remote { url: format!("{base}/a.gz"), md5: md5_hex(&body), unpack: Unpack::Keep }],
    };
    let dest = fetch(&entry, tmp.path()).unwrap();
    assert_eq!(std::fs::read(dest.join("a.gz")).unwrap(), body);
    let missing = Entry {
        name: "x",
        folder: "x",
        files: vec![Remote { url: format!("{base}/nope.gz"), md5: "", unpack: Unpack::Keep }],
    };
    let err = fetch(&missing, tmp.path()).unwrap_err().to_string();
    assert!(err.contains("nope.gz") && err.contains("404"), "{err}");
    assert!(!tmp.path().join("x").exists());
}

#[test]
fn catalogue_knows_the_official_archives() {
    use tfkd_datasets::SourceName;
    for &source in SourceName::ALL {
        let entry = tfkd_datasets::fetch::catalogue(source);
        assert_eq!(entry.is_ok(), source.descriptor().fetchable, "{source}");
        if let Ok(e) = entry {
            assert!(e.files.iter().all(|f| f.md5.len() == 32 && f.url.starts_with("http")));
        }
    }
    let err = tfkd_datasets::fetch::catalogue(SourceName::Imagenet).unwrap_err().to_string();
    assert!(err.contains("cannot fetch 'imagenet'") && err.contains("cifar10, cifar100"), "{err}");
}
