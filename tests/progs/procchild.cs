// procchild PROGRAM ARGS...: a CLR parent that starts PROGRAM as a child
// process (System.Diagnostics.Process, its output redirected to a pipe),
// prints "ready", reads all of the child's output and prints "result",
// the SHA-256 of that output, the child's exit code and its line count.
// e2e/migrate-tree-apps migrates it while the child waits half-way.
using System;
using System.Diagnostics;
using System.Security.Cryptography;
using System.Text;

class ProcChild {
	static int Main(string[] args) {
		var psi = new ProcessStartInfo(args[0], string.Join(" ", args, 1, args.Length - 1));
		psi.UseShellExecute = false;
		psi.RedirectStandardOutput = true;
		using (var child = Process.Start(psi)) {
			Console.WriteLine("ready");
			Console.Out.Flush();
			string all = child.StandardOutput.ReadToEnd();
			child.WaitForExit();
			byte[] digest = SHA256.Create().ComputeHash(Encoding.UTF8.GetBytes(all));
			Console.WriteLine("result " + BitConverter.ToString(digest).Replace("-", "").ToLower() +
					  " exit " + child.ExitCode + " lines " + all.Split('\n').Length);
		}
		return 0;
	}
}
