internal import CZlib

/// Why ``Zlib/decompress(_:maxOutputBytes:)`` refused its input.
public enum ZlibError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The data is not a complete, valid zlib stream (RFC 1950), or has bytes after its end.
    case invalidStream(String)
    /// The data inflates to more than the allowed size (a compression bomb, or a list larger than accepted).
    case outputTooLarge(limit: Int)

    public var description: String {
        switch self {
        case .invalidStream(let reason): return "not a valid zlib stream: \(reason)"
        case .outputTooLarge(let limit): return "zlib data inflates to more than \(limit) bytes"
        }
    }
}

/// zlib (RFC 1950 around DEFLATE, RFC 1951), as the Token Status List requires for `lst`. All use of the zlib
/// C library in this module is in this file.
public enum Zlib {
    /// Compresses with the highest compression level.
    public static func compress(_ bytes: [UInt8]) -> [UInt8] {
        var capacity = compressBound(uLong(bytes.count))
        var out = [UInt8](repeating: 0, count: Int(capacity))
        let status = out.withUnsafeMutableBufferPointer { output in
            bytes.withUnsafeBufferPointer { input in
                compress2(output.baseAddress, &capacity, input.baseAddress, uLong(input.count), Z_BEST_COMPRESSION)
            }
        }
        precondition(status == Z_OK, "zlib compress2 failed with \(status) on a buffer of compressBound size")
        return Array(out.prefix(Int(capacity)))
    }

    /// Inflates a complete zlib stream; refuses truncated or trailing data, and output beyond `maxOutputBytes`.
    public static func decompress(_ bytes: [UInt8], maxOutputBytes: Int) throws(ZlibError) -> [UInt8] {
        var stream = z_stream()
        guard inflateInit_(&stream, zlibVersion(), Int32(MemoryLayout<z_stream>.size)) == Z_OK else {
            throw .invalidStream("inflateInit failed")
        }
        defer { inflateEnd(&stream) }
        var output: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 64 * 1024)
        var input = bytes
        var status: Int32 = Z_OK
        let consumed: Int = input.withUnsafeMutableBufferPointer { inputBuffer in
            stream.next_in = inputBuffer.baseAddress
            stream.avail_in = uInt(inputBuffer.count)
            repeat {
                let produced: Int = chunk.withUnsafeMutableBufferPointer { chunkBuffer in
                    stream.next_out = chunkBuffer.baseAddress
                    stream.avail_out = uInt(chunkBuffer.count)
                    status = inflate(&stream, Z_NO_FLUSH)
                    return chunkBuffer.count - Int(stream.avail_out)
                }
                if status != Z_OK && status != Z_STREAM_END { break }
                if output.count + produced > maxOutputBytes {
                    status = Z_MEM_ERROR
                    output.removeAll()
                    return -1
                }
                output.append(contentsOf: chunk[0..<produced])
                if status == Z_OK && produced == 0 && stream.avail_in == 0 { break }
            } while status != Z_STREAM_END
            return inputBuffer.count - Int(stream.avail_in)
        }
        if consumed < 0 { throw .outputTooLarge(limit: maxOutputBytes) }
        guard status == Z_STREAM_END else {
            let truncated = status == Z_OK || status == Z_BUF_ERROR
            throw .invalidStream(truncated ? "the stream is truncated" : "inflate returned \(status)")
        }
        guard consumed == bytes.count else { throw .invalidStream("\(bytes.count - consumed) bytes after the stream") }
        return output
    }
}
