"""The real ecryptfs-utils tools, driven the way a user's scripts drive them."""

import os
import pwd
import subprocess


def real_wrap(path, mount_passphrase, login_password):
    """ecryptfs-wrap-passphrase FILE - ; stdin is "MOUNT\\nLOGIN"."""
    proc = subprocess.run(["ecryptfs-wrap-passphrase", str(path), "-"],
                          input=bytes(mount_passphrase) + b"\n" + bytes(login_password),
                          capture_output=True, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return path


def real_unwrap(path, login_password, home=None):
    """ecryptfs-unwrap-passphrase FILE - ; returns (rc, stdout, stderr).

    With `home`, the tool runs in a private mount namespace where `home`
    is bind-mounted over the caller's passwd home directory: libecryptfs
    reads a v1 file's salt from getpwuid()->pw_dir/.ecryptfsrc and ignores
    $HOME, and the real home must not be touched.
    """
    cmd = ["ecryptfs-unwrap-passphrase", str(path), "-"]
    if home is not None:
        pw_dir = pwd.getpwuid(os.getuid()).pw_dir
        cmd = ["unshare", "-m", "sh", "-c", 'mount --bind "$1" "$2" && shift 2 && exec "$@"',
               "sh", str(home), pw_dir] + cmd
    proc = subprocess.run(cmd, input=bytes(login_password), capture_output=True, check=False)
    return proc.returncode, proc.stdout, proc.stderr


def real_add_passphrase(mount_passphrase):
    """ecryptfs-add-passphrase: the signature the kernel keyring gets.

    Only the FEKEK: `--fnek` needs kernel eCryptfs support, which a
    container lacks. The key it adds is removed again from @u.
    """
    proc = subprocess.run(["ecryptfs-add-passphrase", "-"], input=bytes(mount_passphrase),
                          capture_output=True, check=False)
    out = proc.stdout.decode()
    assert proc.returncode == 0 and "sig [" in out, out + proc.stderr.decode()
    sig = out.split("sig [", 1)[1].split("]", 1)[0]
    found = subprocess.run(["keyctl", "search", "@u", "user", sig], capture_output=True,
                           text=True, check=False)
    if found.returncode == 0:
        subprocess.run(["keyctl", "unlink", found.stdout.strip(), "@u"], check=False,
                       capture_output=True)
    return sig


def make_setup(folder, mount_passphrase, login_password, fnek=True, link=True):
    """A home with an eCryptfs key setup as ecryptfs-setup-private leaves it.

    /home/.ecryptfs/USER/.ecryptfs holds the files; ~/.ecryptfs is a link
    to it. wrapped-passphrase is written by the real tool; Private.sig
    carries the signatures the real ecryptfs-add-passphrase computes
    (the FNEK one from our code, checked against the vectors elsewhere).
    """
    from pam_zescrow import ecryptfs_crypto as crypto

    real = folder / "ecryptfs-store" / ".ecryptfs"
    real.mkdir(parents=True, mode=0o700)
    home = folder / "home"
    home.mkdir()
    real_wrap(real / "wrapped-passphrase", mount_passphrase, login_password)
    sigs = [crypto.signature(crypto.DEFAULT_SALT, mount_passphrase)]
    if fnek:
        sigs.append(crypto.signature(crypto.FNEK_SALT, mount_passphrase))
    (real / "Private.sig").write_text("".join(s + "\n" for s in sigs))
    (real / "Private.mnt").write_text(str(home / "Private"))
    (real / "auto-mount").write_bytes(b"")
    (real / "auto-umount").write_bytes(b"")
    if not link:
        return real
    os.symlink(real, home / ".ecryptfs")
    return home / ".ecryptfs"
