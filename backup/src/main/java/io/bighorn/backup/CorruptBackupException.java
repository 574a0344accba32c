package io.bighorn.backup;

import java.io.IOException;

/** A backup's file is missing or its contents do not check out. */
public final class CorruptBackupException extends IOException {
    private static final long serialVersionUID = 1L;

    public CorruptBackupException(String message) {
        super(message);
    }
}
