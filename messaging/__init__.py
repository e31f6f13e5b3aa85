"""Threads, messages, read state and the live consumer: the contact book (電子連絡帳)."""
