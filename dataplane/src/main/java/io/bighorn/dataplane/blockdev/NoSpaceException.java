package io.bighorn.dataplane.blockdev;

import java.io.IOException;

/** The storage under a block device is full (ENOSPC or EDQUOT). Nothing acknowledged was lost. */
public final class NoSpaceException extends IOException {
    private static final long serialVersionUID = 1L;

    public NoSpaceException(String message) {
        super(message);
    }
}
