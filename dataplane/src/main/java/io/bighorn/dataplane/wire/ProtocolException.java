package io.bighorn.dataplane.wire;

import java.io.IOException;

/** The peer broke the protocol (bad magic or version, oversize or malformed frame, failed handshake). */
final class ProtocolException extends IOException {
    private static final long serialVersionUID = 1L;

    ProtocolException(String message) {
        super(message);
    }
}
