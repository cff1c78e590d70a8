package dev.edgeintent;

/**
 * A failed call into the runtime: the message says what was wrong and what
 * to do; {@link #code()} is the C ABI's error code ({@code EI_ERR_*}).
 */
public final class EdgeIntentException extends RuntimeException {
    private static final long serialVersionUID = 1L;

    /** A null argument. */
    public static final int NULL = -1;
    /** A string that is not valid UTF-8. */
    public static final int UTF8 = -2;
    /** An invalid event (counted in the stats' events_invalid). */
    public static final int EVENT = -3;
    /** The ingest channel is full: the event was dropped (counted). */
    public static final int FULL = -4;
    /** A snapshot could not be written or read; the state is unchanged. */
    public static final int SNAPSHOT = -5;
    /** An internal error (a caught panic); the runtime may still be used. */
    public static final int INTERNAL = -6;
    /** The runtime cannot accept events any more. */
    public static final int CLOSED = -7;
    /** The call does not fit the runtime's state (no geofence configured). */
    public static final int STATE = -8;
    /** An argument is out of range (an invalid config, time or circle). */
    public static final int ARG = -9;
    /** An update package was refused; the running version stays in force. */
    public static final int UPDATE = -10;

    private final int code;

    /** Made by the native layer. */
    public EdgeIntentException(String message, int code) {
        super(message);
        this.code = code;
    }

    /** The C ABI's error code, one of the constants above. */
    public int code() {
        return code;
    }
}
