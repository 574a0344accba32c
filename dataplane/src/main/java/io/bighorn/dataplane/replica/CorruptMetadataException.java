package io.bighorn.dataplane.replica;

import java.io.IOException;
import java.nio.file.Path;

/** A metadata file of a replica is missing or cannot be read; the message names the file. */
public final class CorruptMetadataException extends IOException {
    private static final long serialVersionUID = 1L;

    public CorruptMetadataException(Path file, String problem) {
        super("replica metadata " + file + ": " + problem);
    }
}
