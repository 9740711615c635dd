enum MachinePlaceholder {}
