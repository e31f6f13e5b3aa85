"""Who: people and professions, organizations, regional networks and the directory (連携リスト)."""
