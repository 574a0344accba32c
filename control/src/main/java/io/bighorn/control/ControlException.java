package io.bighorn.control;

/** A control call the engine refused or could not do; {@code code} is the gRPC status code name. */
public final class ControlException extends RuntimeException {
    private static final long serialVersionUID = 1L;
    private final String code;

    public ControlException(String code, String message, Throwable cause) {
        super(message, cause);
        this.code = code;
    }

    public String code() {
        return code;
    }
}
