package io.bighorn.agent;

/** A call an agent refused or could not do; {@code code} is the gRPC status code's name. */
public final class AgentException extends RuntimeException {
    private static final long serialVersionUID = 1L;
    private final String code;

    public AgentException(String code, String message, Throwable cause) {
        super(message, cause);
        this.code = code;
    }

    public String code() {
        return code;
    }
}
