// filecopy: copies a file back and forth between two files through a
// FileStream in 64 KiB blocks, transforming and checksumming every block.
//
// a.dat (--file-mib MiB of random bytes) and b.dat stay open for the whole
// run.  Pass p copies a.dat to b.dat when p is even and back when it is odd;
// each block is read into a staging window of --mem MiB, xored with a key
// stream of (seed, pass, block), and written once the window is full, so the
// window is the memory the workload holds.  One unit = one block written.
// The digest folds every block read; the result folds it and both files'
// final contents.
using System;
using System.IO;

namespace Binmig.Workloads
{
    static class FileCopy
    {
        const int BlockBytes = 64 * 1024;

        static readonly Spec spec = new Spec {
            Name = "filecopy",
            Summary = "Copies a file back and forth through FileStream in 64 KiB blocks,\n" +
                      "transforming and checksumming every block.",
            Unit = "one 64 KiB block read, transformed and written",
            MemMeaning = "MiB of staging window the blocks pass through",
            FileMeaning = "size of the file copied back and forth, in MiB",
            Accepts = Accepts.FileMib,
            DefaultWork = 512, DefaultMemMib = 4, DefaultFileMib = 8,
            RssOverheadMib = 18,
        };

        static int Main(string[] args)
        {
            return Wl.Run(spec, args, Copy);
        }

        static unsafe void Transform(byte[] block, int offset, int length, ulong seed, ulong pass, ulong index)
        {
            ulong key = Wl.Stream(seed, (pass << 32) | index);
            fixed (byte* start = &block[offset]) {
                ulong* p = (ulong*)start;
                for (int i = 0; i < length / 8; i++)
                    p[i] ^= Wl.Rand(ref key);
            }
        }

        static ulong Copy(Options o)
        {
            ulong blocksPerFile = o.FileMib * (ulong)(Wl.Mib / BlockBytes);
            var window = new ChunkedBuffer(o.MemMib, Wl.Stream(o.Seed, 0));
            ulong windowBlocks = (ulong)(window.Length / BlockBytes);
            var source = new byte[BlockBytes];
            ulong rng = Wl.Stream(o.Seed, 1);
            var files = new FileStream[2];
            files[0] = Wl.OpenNew(o, "a.dat", 4096);
            files[1] = Wl.OpenNew(o, "b.dat", 4096);
            for (ulong b = 0; b < blocksPerFile; b++) {
                Wl.FillRandom(source, ref rng);
                files[0].Write(source, 0, BlockBytes);
            }
            files[0].Flush();
            Wl.Ready();

            ulong digest = 0, done = 0;
            if (o.Flip && o.FlipAt == 0)
                Wl.FlipFileByte(spec, files[0], 0, "a.dat", 0);
            while (done < o.Limit || o.Extend()) {
                ulong pass = done / blocksPerFile, first = done % blocksPerFile;
                FileStream src = files[pass % 2], dst = files[(pass + 1) % 2];
                if (first == 0) {
                    src.Seek(0, SeekOrigin.Begin);
                    dst.Seek(0, SeekOrigin.Begin);
                }
                ulong count = Math.Min(windowBlocks, Math.Min(blocksPerFile - first, o.Limit - done));
                int offset;
                for (ulong i = 0; i < count; i++) {
                    byte[] block = window.Block((long)i, BlockBytes, out offset);
                    if (Wl.ReadFull(src, block, offset, BlockBytes) != BlockBytes)
                        throw new IOException(string.Format("short read in pass {0}", pass));
                    digest = Wl.Fold(digest, block, offset, BlockBytes);
                    Transform(block, offset, BlockBytes, o.Seed, pass, first + i);
                }
                for (ulong i = 0; i < count; i++) {
                    byte[] block = window.Block((long)i, BlockBytes, out offset);
                    dst.Write(block, offset, BlockBytes);
                    done++;
                    if (o.Flip && done == o.FlipAt) {
                        long last = (long)((first + i + 1) * BlockBytes) - 1;
                        Wl.FlipFileByte(spec, dst, last, pass % 2 == 0 ? "b.dat" : "a.dat", done);
                    }
                }
                dst.Flush();
            }
            digest = Wl.FoldFile(digest, files[0], source);
            digest = Wl.FoldFile(digest, files[1], source);
            files[0].Dispose();
            files[1].Dispose();
            return digest;
        }
    }
}
