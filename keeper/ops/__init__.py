"""Operations: logging now; metrics, health endpoint and alerts later."""
