package io.bighorn.backup.store;

import java.net.URI;
import java.net.URISyntaxException;
import java.nio.file.Path;
import java.util.Map;

/**
 * A backup target URL, parsed: {@code file:///path} (or Longhorn's {@code vfs:///path}) for a directory or
 * mounted NFS share, {@code s3://bucket@region/path} or {@code s3://bucket/path} for S3.
 */
public sealed interface BackupTarget {
    String url();

    /** A directory target. */
    record Directory(String url, Path path) implements BackupTarget {}

    /** An S3 bucket, with a key prefix ("" for the bucket's root). */
    record S3(String url, String bucket, String region, String prefix) implements BackupTarget {}

    /** Parses {@code url}, or fails with a message naming what is wrong. */
    static BackupTarget parse(String url) {
        URI uri;
        try {
            uri = new URI(url);
        } catch (URISyntaxException e) {
            throw new IllegalArgumentException("backup target " + url + " is not a URL: " + e.getMessage(), e);
        }
        String scheme = uri.getScheme();
        if (scheme == null) {
            throw new IllegalArgumentException(
                    "backup target " + url + " has no scheme: use file:///path or s3://bucket@region/path");
        }
        return switch (scheme) {
            case "file", "vfs" -> {
                String path = uri.getPath();
                if (path == null || path.isEmpty() || !path.startsWith("/")) {
                    throw new IllegalArgumentException(
                            "backup target " + url + " needs an absolute path, as in file:///backups");
                }
                yield new Directory(url, Path.of(path).normalize());
            }
            case "s3" -> {
                String authority = uri.getRawAuthority();
                if (authority == null || authority.isEmpty()) {
                    throw new IllegalArgumentException(
                            "backup target " + url + " names no bucket: use s3://bucket@region/path");
                }
                String bucket = authority;
                String region = "";
                int at = authority.indexOf('@');
                if (at >= 0) {
                    bucket = authority.substring(0, at);
                    region = authority.substring(at + 1);
                }
                if (bucket.isEmpty()) {
                    throw new IllegalArgumentException("backup target " + url + " names no bucket");
                }
                String prefix = uri.getPath() == null ? "" : uri.getPath().replaceAll("^/+|/+$", "");
                yield new S3(url, bucket, region, prefix);
            }
            default ->
                throw new IllegalArgumentException("backup target " + url + " has the unsupported scheme '" + scheme
                        + "': use file:///path or s3://bucket@region/path");
        };
    }

    /**
     * Opens the target's store. {@code env} holds the S3 settings with Longhorn's names: {@code
     * AWS_ACCESS_KEY_ID}, {@code AWS_SECRET_ACCESS_KEY}, {@code AWS_ENDPOINTS}, {@code
     * VIRTUAL_HOSTED_STYLE}, {@code AWS_CERT} and {@code AWS_REGION} (see {@link S3Store#open(S3, Map)}).
     */
    static BackupStore open(String url, Map<String, String> env) {
        return switch (parse(url)) {
            case Directory d -> new FileStore(d.url(), d.path());
            case S3 s -> S3Store.open(s, env);
        };
    }
}
