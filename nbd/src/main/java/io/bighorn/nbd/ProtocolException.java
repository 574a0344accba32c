package io.bighorn.nbd;

import java.io.IOException;

/** The peer broke the protocol in a way that ends the session (bad magic, oversized data, unknown flags). */
final class ProtocolException extends IOException {
    private static final long serialVersionUID = 1L;

    ProtocolException(String message) {
        super(message);
    }
}
