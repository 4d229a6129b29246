"""The WebAssembly module model.js runs its products in, assembled here from its instructions so
that its bytes can be read and re-made: `python -m minrnn.viz.matvec_wasm` prints the base64
that model.js holds (tests/test_viz_cli.py checks that the two agree). Not imported by minrnn.

One function, matvec(W, rows, cols, x, out): out[r] = sum_j W[r, j] x[j] for a row-major
float32 W whose rows are padded to cols, a multiple of 8; addresses in bytes. The module
exports its memory, which the page fills with the weights."""
import base64


def uleb(n):
    out = bytearray()
    while True:
        byte, n = n & 0x7F, n >> 7
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def sleb(n):
    out = bytearray()
    while True:
        byte, n = n & 0x7F, n >> 7
        done = (n == 0 and not byte & 0x40) or (n == -1 and byte & 0x40)
        out.append(byte | (0 if done else 0x80))
        if done:
            return bytes(out)


def vec(items):
    return uleb(len(items)) + b"".join(items)


def section(kind, body):
    return bytes([kind]) + uleb(len(body)) + body


I32, V128 = 0x7F, 0x7B
W, ROWS, COLS, X, OUT, R, J, WP, A0, A1 = range(10)  # the parameters, then the locals


def get(i):  # local.get
    return b"\x20" + uleb(i)


def put(i):  # local.set
    return b"\x21" + uleb(i)


def const(n):  # i32.const
    return b"\x41" + sleb(n)


def simd(op, imm=b""):
    return b"\xfd" + uleb(op) + imm


def load(offset):  # v128.load, 4-byte aligned
    return simd(0x00, uleb(2) + uleb(offset))


def lane(k):  # f32x4.extract_lane
    return simd(0x1F, bytes([k]))


ADD, MUL, GE_U, F32_ADD = b"\x6a", b"\x6c", b"\x4f", b"\x92"
F32X4_ADD, F32X4_MUL, ZERO = simd(0xE4), simd(0xE6), simd(0x0C, bytes(16))
BLOCK, LOOP, END, BR, BR_IF = b"\x02\x40", b"\x03\x40", b"\x0b", b"\x0c", b"\x0d"


def body():
    # two sums of four lanes each, so that the additions of neighbouring steps pipeline
    inner = [
        get(J), get(COLS), GE_U, BR_IF + uleb(1),  # j >= cols: out of the inner block
        get(A0), get(WP), load(0), get(X), get(J), const(4), MUL, ADD, load(0), F32X4_MUL, F32X4_ADD, put(A0),
        get(A1), get(WP), load(16), get(X), get(J), const(4), MUL, ADD, load(16), F32X4_MUL, F32X4_ADD, put(A1),
        get(WP), const(32), ADD, put(WP),  # w += 8 floats
        get(J), const(8), ADD, put(J),
        BR + uleb(0),
    ]
    outer = [
        get(R), get(ROWS), GE_U, BR_IF + uleb(1),  # r >= rows: done
        ZERO, put(A0), ZERO, put(A1), const(0), put(J),
        BLOCK, LOOP, *inner, END, END,
        get(A0), get(A1), F32X4_ADD, put(A0),
        get(OUT), get(R), const(4), MUL, ADD,  # the address of out[r]
        get(A0), lane(0), get(A0), lane(1), F32_ADD, get(A0), lane(2), get(A0), lane(3), F32_ADD, F32_ADD,
        b"\x38" + uleb(2) + uleb(0),  # f32.store
        get(R), const(1), ADD, put(R),
        BR + uleb(0),
    ]
    code = [const(0), put(R), get(W), put(WP), BLOCK, LOOP, *outer, END, END, END]
    locals_ = vec([uleb(3) + bytes([I32]), uleb(2) + bytes([V128])])  # r, j, w; a0, a1
    return locals_ + b"".join(code)


def module():
    func = body()
    return b"".join([
        b"\x00asm\x01\x00\x00\x00",
        section(1, vec([b"\x60" + vec([bytes([I32])] * 5) + vec([])])),  # type: (i32 x 5) -> ()
        section(3, vec([uleb(0)])),  # one function of that type
        section(5, vec([b"\x00" + uleb(1)])),  # memory: 1 page to start; the page grows it
        section(7, vec([uleb(6) + b"matvec" + b"\x00" + uleb(0), uleb(6) + b"memory" + b"\x02" + uleb(0)])),
        section(10, vec([uleb(len(func)) + func])),
    ])


if __name__ == "__main__":
    print(base64.b64encode(module()).decode("ascii"))
