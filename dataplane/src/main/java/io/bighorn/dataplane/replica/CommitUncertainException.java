package io.bighorn.dataplane.replica;

import java.io.IOException;

/**
 * A metadata file was renamed into place but its directory could not be synced: the change may or may
 * not survive a power loss. The replica closes itself; reopening it settles which state holds, so no
 * file the new state names may be deleted.
 */
public final class CommitUncertainException extends IOException {
    private static final long serialVersionUID = 1L;

    CommitUncertainException(String message, IOException cause) {
        super(message, cause);
    }
}
