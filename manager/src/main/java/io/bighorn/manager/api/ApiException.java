package io.bighorn.manager.api;

/** An error the API answers with: an HTTP status, a stable code and a message for people. */
public final class ApiException extends RuntimeException {
    private final int status;
    private final String code;

    public ApiException(int status, String code, String message) {
        super(message);
        this.status = status;
        this.code = code;
    }

    public int status() {
        return status;
    }

    public String code() {
        return code;
    }

    static ApiException badRequest(String message) {
        return new ApiException(400, "InvalidArgument", message);
    }

    static ApiException notFound(String message) {
        return new ApiException(404, "NotFound", message);
    }

    static ApiException invalidState(String message) {
        return new ApiException(409, "InvalidState", message);
    }

    static ApiException unavailable(String message) {
        return new ApiException(503, "Unavailable", message);
    }
}
