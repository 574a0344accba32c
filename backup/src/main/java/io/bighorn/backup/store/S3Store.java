package io.bighorn.backup.store;

import java.util.Map;

/** An S3 backup target (being written). */
final class S3Store {
    private S3Store() {}

    static BackupStore open(BackupTarget.S3 target, Map<String, String> env) {
        throw new UnsupportedOperationException("S3 targets are not supported yet: " + target.url());
    }
}
